// `npm run accuracy`: how close the service's preprocessing + inference come to SOURCE.md's observed top-5, photo by
// photo, beside how far each model's own scores move when the input changes by ±1 grey level in 0.1 % of its values.
// A difference inside that envelope cannot be told apart from a one-level rounding difference anywhere upstream
// (JPEG decoder, ICC transform, resampler), so only bit-identical pixels would reproduce it.
import sharp from 'sharp';
import { FsModelCatalog } from '../../adapters/fs-model-catalog';
import { OnnxModel } from '../../adapters/onnx-model';
import { SharpPreprocessor } from '../../adapters/sharp-preprocessor';
import { config } from '../../config';
import { preprocessSpecOf } from '../../core/model';
import { fillNchw, softmax } from '../../core/tensor';
import { flagsOrExit } from '../cli/args';
import { loadPhotos } from './photos';
import { EXPECTED_TOP5 } from './reference-top5';

const { values: flags } = flagsOrExit(
  { options: { trials: { type: 'string', default: '20' }, fraction: { type: 'string', default: '0.001' } } },
  'usage: npm run accuracy [-- --trials 20 --fraction 0.001]',
);
const trials = Number(flags.trials);
const fraction = Number(flags.fraction);

/** A fixed-seed generator, so two runs perturb the same values. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

async function main() {
  const cfg = config();
  const catalog = new FsModelCatalog({ dir: cfg.modelsDir, defaultModel: cfg.defaultModel, only: cfg.models });
  const pre = new SharpPreprocessor({ maxPixels: cfg.limits.maxPixels });
  const photos = loadPhotos();
  console.log(
    `| model | photo | ICC profile | top-1 as SOURCE.md | max Δ vs SOURCE.md (pp) | our scores moved by ±1 level on ${fraction * 100} % of input values, ${trials} trials: median / max (pp) | verdict |`,
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const name of catalog.names()) {
    const manifest = catalog.manifest(name);
    const table = EXPECTED_TOP5[name];
    if (!manifest || !table) continue;
    const model = await OnnxModel.load(manifest, catalog.modelPath(name), 1);
    const spec = preprocessSpecOf(manifest);
    for (const photo of photos) {
      const expected = table[photo.name];
      if (!expected) continue;
      const rgb = (await pre.prepare(photo.bytes, spec)).rgb;
      const percents = async (pixels: Uint8Array) => {
        const tensor = new Float32Array(3 * spec.width * spec.height);
        fillNchw(pixels, spec, tensor);
        return Array.from(softmax(await model.run(tensor, 1)), (v) => v * 100);
      };
      const ours = await percents(rgb);
      const top1 = ours.indexOf(Math.max(...ours));
      const delta = Math.max(...expected.map((e) => Math.abs((ours[e.index] ?? 0) - e.percent)));
      // How far one-level noise moves our own scores for SOURCE.md's classes.
      const rnd = lcg(7);
      const moves: number[] = [];
      for (let t = 0; t < trials; t++) {
        const x = Uint8Array.from(rgb);
        for (let i = 0; i < x.length; i++) if (rnd() < fraction) x[i] = Math.max(0, Math.min(255, (x[i] ?? 0) + (rnd() < 0.5 ? -1 : 1)));
        const p = await percents(x);
        moves.push(Math.max(...expected.map((e) => Math.abs((p[e.index] ?? 0) - (ours[e.index] ?? 0)))));
      }
      moves.sort((a, b) => a - b);
      const median = moves[Math.floor(moves.length / 2)] ?? 0;
      const max = moves[moves.length - 1] ?? 0;
      const icc = (await sharp(photo.bytes).metadata()).icc ? 'yes' : 'no';
      const verdict = delta <= 1 ? 'within 1 pp' : delta <= max ? 'inside the noise' : 'OUTSIDE the noise';
      console.log(
        `| ${name} | ${photo.name} | ${icc} | ${top1 === expected[0]?.index ? 'yes' : 'NO'} | ${delta.toFixed(2)} | ${median.toFixed(2)} / ${max.toFixed(2)} | ${verdict} |`,
      );
    }
    await model.release();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
