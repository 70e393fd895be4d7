import { readFileSync } from 'node:fs';
import { FsModelCatalog } from '../../../src/adapters/fs-model-catalog';
import { OnnxEngine } from '../../../src/adapters/onnx-engine';
import { classifyImage } from '../../../src/core/classify';
import { EXPECTED_TOP5 } from '../../../src/tools/bench/reference-top5';
import { MODELS_DIR, photoNames, photoPath } from '../../fixtures/paths';

// Real sharp + real ONNX Runtime on the real photos: preprocessing must reproduce SOURCE.md's tables.
const catalog = new FsModelCatalog({ dir: MODELS_DIR, defaultModel: 'mobilenetv2-int8' });
catalog.verifyFiles();
const engine = new OnnxEngine(catalog, { intraOpThreads: 1, maxPixels: 40_000_000, maxBatch: 8 });
const deps = { engine, catalog };

afterAll(() => engine.close());

/**
 * Scores we reproduce within 1 point except these, measured with sharp 0.35.5 / onnxruntime-node 1.30.0. `npm run accuracy`
 * shows why: changing 0.1 % of the input values by one grey level moves the int8 model's scores on chelsea, rocket and
 * goldfish by up to 10, 39 and 4 points, so those rows need bit-identical pixels; fp32 rocket (an Adobe RGB photo) differs
 * in colour management, and no variant we tried matched it (see issue 2's note).
 * Top-1 must still match exactly; a regression beyond these bounds fails.
 */
const TOLERANCE_PP: Record<string, Record<string, number>> = {
  'mobilenetv2-int8': { 'chelsea.png': 6, 'rocket.jpg': 7.5, 'goldfish.jpg': 1.5 },
  'mobilenet-v1-0.75-fp32': { 'rocket.jpg': 2.5 },
};

describe.each(Object.keys(EXPECTED_TOP5))('model %s reproduces the SOURCE.md top-5', (model) => {
  const table = EXPECTED_TOP5[model] ?? {};
  const photos = photoNames().filter((p) => table[p]);

  it('covers every shared photo that has a row', () => {
    expect(photos.length).toBeGreaterThanOrEqual(7);
  });

  it.each(photos)('%s', async (photo) => {
    // Act
    const result = await classifyImage(deps, readFileSync(photoPath(photo)), { model, topK: 20 });
    // Assess
    const expected = table[photo] ?? [];
    const tolerance = TOLERANCE_PP[model]?.[photo] ?? 1;
    // topK 20 so a 0.0 % fifth class that swaps with a neighbour still has a score to compare.
    const got = new Map(result.predictions.map((p) => [p.index, p.score * 100]));
    expect(result.predictions[0]?.index).toBe(expected[0]?.index);
    for (const e of expected) {
      // Near-ties may swap places within the tolerance, so compare each expected class's own score.
      const diff = Math.abs((got.get(e.index) ?? Number.NaN) - e.percent);
      expect(`${e.index}: ${diff <= tolerance ? 'within' : `off by ${diff.toFixed(2)}pp`}`).toBe(`${e.index}: within`);
    }
  });
});
