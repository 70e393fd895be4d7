import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The checkout root, found by walking up: this file runs both from src/tools/load (ts-jest) and dist/src/tools/load. */
export function projectRoot(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'serverless-image-classifier') return dir;
      } catch {
        // Not ours or unreadable: keep walking.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no serverless-image-classifier package.json above ${from}`);
    dir = parent;
  }
}

export const artilleryDir = (): string => path.join(projectRoot(), 'artillery');
export const reportsDir = (): string => path.resolve(process.env.LOAD_REPORTS_DIR ?? path.join(projectRoot(), 'reports'));
/**
 * The shared test photos, never committed nor copied into the project: TEST_IMAGES_DIR, else ../shared/images beside
 * the checkout. The one place that says so: the benches, the load runs and the tests all ask here.
 */
export const imagesDir = (): string => path.resolve(process.env.TEST_IMAGES_DIR || path.join(projectRoot(), '..', 'shared', 'images'));
