import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ModelLoadError } from '../core/errors';
import { parseLabels } from '../core/labels';
import { validateManifest } from '../core/manifest';
import { type ModelInfo, type ModelManifest, preprocessSpecOf } from '../core/model';
import type { ModelCatalog } from '../core/ports';

export interface FsModelCatalogOptions {
  dir: string;
  defaultModel: string;
  /** Models to serve; all folders with a model.json when empty. */
  only?: readonly string[];
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err: unknown) {
    throw new ModelLoadError(`${file}: not JSON`, { cause: err });
  }
}

/** Reads `models/<name>/model.json` manifests and labels from disk, once per container. */
export class FsModelCatalog implements ModelCatalog {
  readonly defaultModel: string;
  private readonly manifests = new Map<string, ModelManifest>();
  private readonly labelSets = new Map<string, string[]>();
  private readonly loadTimes = new Map<string, number>();
  private verified = false;

  constructor(private readonly options: FsModelCatalogOptions) {
    const { dir } = options;
    if (!existsSync(dir)) throw new ModelLoadError(`models folder ${dir} does not exist`);
    const names =
      options.only && options.only.length > 0
        ? [...options.only]
        : readdirSync(dir, { withFileTypes: true })
            .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'model.json')))
            .map((d) => d.name)
            .sort();
    for (const name of names) {
      const manifestPath = path.join(dir, name, 'model.json');
      if (!existsSync(manifestPath)) throw new ModelLoadError(`model "${name}": ${manifestPath} not found`);
      const manifest = validateManifest(readJson(manifestPath), manifestPath);
      for (const spec of [manifest.files.model, manifest.files.labels]) {
        const file = path.join(dir, name, spec.file);
        if (!existsSync(file)) {
          throw new ModelLoadError(
            `model "${name}": ${file} is missing. Run "npm run models:fetch" with MODELS_SOURCE set to a folder or URL holding ${spec.source}`,
          );
        }
      }
      const labels = parseLabels(readFileSync(path.join(dir, name, manifest.files.labels.file), 'utf8'), manifest.labelsFormat);
      if (labels.length !== manifest.output.classes) {
        throw new ModelLoadError(`model "${name}": ${labels.length} labels for ${manifest.output.classes} classes`);
      }
      this.manifests.set(name, manifest);
      this.labelSets.set(name, labels);
    }
    if (!this.manifests.has(options.defaultModel)) {
      throw new ModelLoadError(`default model "${options.defaultModel}" is not among ${[...this.manifests.keys()].join(', ') || 'no models'}`);
    }
    this.defaultModel = options.defaultModel;
  }

  /**
   * Hashes every model and labels file against its manifest, once per catalog. Only where the weights are loaded:
   * a function that only reads manifests need not read 14 MB at its cold start.
   */
  verifyFiles(): void {
    if (this.verified) return;
    for (const [name, manifest] of this.manifests) {
      for (const spec of [manifest.files.model, manifest.files.labels]) {
        const file = path.join(this.options.dir, name, spec.file);
        const got = createHash('sha256').update(readFileSync(file)).digest('hex');
        if (got !== spec.sha256) throw new ModelLoadError(`model "${name}": ${file} has sha256 ${got}, manifest says ${spec.sha256}`);
      }
    }
    this.verified = true;
  }

  modelPath(name: string): string {
    const m = this.manifests.get(name);
    if (!m) throw new ModelLoadError(`unknown model "${name}"`);
    return path.join(this.options.dir, name, m.files.model.file);
  }

  names(): string[] {
    return [...this.manifests.keys()];
  }

  manifest(name: string): ModelManifest | undefined {
    return this.manifests.get(name);
  }

  labels(name: string): readonly string[] | undefined {
    return this.labelSets.get(name);
  }

  recordLoad(name: string, ms: number): void {
    this.loadTimes.set(name, ms);
  }

  info(): ModelInfo[] {
    return [...this.manifests.values()].map((m) => ({
      name: m.name,
      version: m.version,
      description: m.description,
      default: m.name === this.defaultModel,
      input: m.input,
      output: m.output,
      preprocessing: preprocessSpecOf(m),
      labels: this.labelSets.get(m.name)?.length ?? 0,
      sha256: m.files.model.sha256,
      loadMs: this.loadTimes.get(m.name) ?? null,
      provenance: m.provenance,
      licence: m.licence,
    }));
  }
}
