import { FsModelCatalog } from '../../adapters/fs-model-catalog';
import { config } from '../../config';

let catalog: FsModelCatalog | undefined;

/**
 * The model manifests and labels, read once per container. Functions that only name models (create a job,
 * ingest, list models) stop here: no weights are hashed or loaded.
 */
export const modelCatalog = (): FsModelCatalog => {
  const cfg = config();
  catalog ??= new FsModelCatalog({ dir: cfg.modelsDir, defaultModel: cfg.defaultModel, only: cfg.models });
  return catalog;
};
