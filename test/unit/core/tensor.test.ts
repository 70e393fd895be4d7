import { cropPlan, fillNchw, softmax, topK } from '../../../src/core/tensor';

describe('fillNchw', () => {
  it('writes planar channels with the (p/scale - mean)/std normalisation, at the right batch slot', () => {
    // Prepare: a 2×1 image, pixels (255,0,51) and (0,255,102)
    const spec = {
      width: 2,
      height: 1,
      shorterSide: 1,
      kernel: 'linear' as const,
      scale: 255,
      mean: [0.5, 0, 0.2] as [number, number, number],
      std: [0.5, 1, 0.2] as [number, number, number],
    };
    const out = new Float32Array(12);
    // Act
    fillNchw(new Uint8Array([255, 0, 51, 0, 255, 102]), spec, out, 1);
    // Assess
    expect(Array.from(out.slice(0, 6))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(out.slice(6))).toEqual([1, -1, 0, 1, 0, 1].map((v) => expect.closeTo(v, 5)));
  });

  it('refuses a buffer of the wrong size', () => {
    const spec = {
      width: 2,
      height: 2,
      shorterSide: 2,
      kernel: 'linear' as const,
      scale: 1,
      mean: [0, 0, 0] as [number, number, number],
      std: [1, 1, 1] as [number, number, number],
    };
    expect(() => fillNchw(new Uint8Array(11), spec, new Float32Array(12))).toThrow(RangeError);
  });
});

describe('softmax and topK', () => {
  it('softmax is stable for large logits and sums to 1', () => {
    const p = softmax([1000, 1001, 1002]);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p[2]).toBeGreaterThan(p[1] as number);
  });

  it('topK returns the k best, best first, ties by lower index', () => {
    const labels = ['a', 'b', 'c', 'd', 'e'];
    expect(topK([0.1, 0.4, 0.4, 0.05, 0.05], 3, labels)).toEqual([
      { label: 'b', index: 1, score: 0.4 },
      { label: 'c', index: 2, score: 0.4 },
      { label: 'a', index: 0, score: 0.1 },
    ]);
    expect(topK([1, 2], 5, ['x', 'y']).map((p) => p.index)).toEqual([1, 0]);
  });
});

describe('cropPlan (resize shorter side, center crop)', () => {
  it('landscape: height becomes the shorter side, width rounds, crop is centred', () => {
    expect(cropPlan(451, 300, { shorterSide: 256, width: 224, height: 224 })).toEqual({ resizeWidth: 385, resizeHeight: 256, left: 80, top: 16 });
  });
  it('portrait and square', () => {
    expect(cropPlan(300, 600, { shorterSide: 256, width: 224, height: 224 })).toEqual({ resizeWidth: 256, resizeHeight: 512, left: 16, top: 144 });
    expect(cropPlan(224, 224, { shorterSide: 256, width: 224, height: 224 })).toEqual({ resizeWidth: 256, resizeHeight: 256, left: 16, top: 16 });
  });
});
