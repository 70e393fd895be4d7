import { ModelLoadError } from './errors';
import type { ModelManifest } from './model';

/** Checks a parsed `model.json` has every field the service relies on; a ModelLoadError naming the field if not. */
export function validateManifest(raw: unknown, where: string): ModelManifest {
  const fail = (msg: string): never => {
    throw new ModelLoadError(`${where}: ${msg}`);
  };
  if (typeof raw !== 'object' || raw === null) return fail('not a JSON object');
  const m = raw as Record<string, unknown>;
  const str = (v: unknown, name: string): string => (typeof v === 'string' && v !== '' ? v : fail(`${name} must be a non-empty string`));
  const num = (v: unknown, name: string): number =>
    typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fail(`${name} must be a positive number`);
  const triple = (v: unknown, name: string): [number, number, number] => {
    const [a, b, c] = Array.isArray(v) && v.length === 3 ? (v as unknown[]) : [];
    return typeof a === 'number' && typeof b === 'number' && typeof c === 'number' ? [a, b, c] : fail(`${name} must be 3 numbers`);
  };
  const obj = (v: unknown, name: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : fail(`${name} must be an object`);
  const file = (v: unknown, name: string) => {
    const f = obj(v, name);
    const sha256 = str(f.sha256, `${name}.sha256`);
    if (!/^[0-9a-f]{64}$/.test(sha256)) fail(`${name}.sha256 must be 64 hex digits`);
    return { file: str(f.file, `${name}.file`), source: str(f.source, `${name}.source`), bytes: num(f.bytes, `${name}.bytes`), sha256 };
  };
  const files = obj(m.files, 'files');
  const input = obj(m.input, 'input');
  const output = obj(m.output, 'output');
  const resize = obj(m.resize, 'resize');
  const normalize = obj(m.normalize, 'normalize');
  if (input.layout !== 'NCHW') fail('input.layout must be NCHW');
  if (input.channels !== 'RGB') fail('input.channels must be RGB');
  const kind = output.kind === 'logits' || output.kind === 'probabilities' ? output.kind : fail('output.kind must be logits or probabilities');
  if (resize.crop !== 'center') fail('resize.crop must be center');
  const kernels = ['linear', 'cubic', 'lanczos3', 'nearest'] as const;
  const kernel = kernels.find((k) => k === resize.kernel) ?? fail(`resize.kernel must be one of ${kernels.join(', ')}`);
  const labelsFormat = m.labelsFormat === 'synset' || m.labelsFormat === 'plain' ? m.labelsFormat : fail('labelsFormat must be synset or plain');
  return {
    name: str(m.name, 'name'),
    version: str(m.version, 'version'),
    description: typeof m.description === 'string' ? m.description : '',
    files: { model: file(files.model, 'files.model'), labels: file(files.labels, 'files.labels') },
    labelsFormat,
    input: {
      name: str(input.name, 'input.name'),
      layout: 'NCHW',
      channels: 'RGB',
      height: num(input.height, 'input.height'),
      width: num(input.width, 'input.width'),
      dynamicBatch: input.dynamicBatch === true,
    },
    output: { name: str(output.name, 'output.name'), kind, classes: num(output.classes, 'output.classes') },
    resize: { shorterSide: num(resize.shorterSide, 'resize.shorterSide'), crop: 'center', kernel },
    normalize: {
      scale: num(normalize.scale, 'normalize.scale'),
      mean: triple(normalize.mean, 'normalize.mean'),
      std: triple(normalize.std, 'normalize.std'),
    },
    provenance: typeof m.provenance === 'string' ? m.provenance : '',
    licence: typeof m.licence === 'string' ? m.licence : '',
  };
}
