import { existsSync } from 'node:fs';
import path from 'node:path';

/** The checkout's root, from src/deploy (ts-jest) or dist/src/deploy (compiled) alike. */
export function projectRoot(from = __dirname): string {
  for (let dir = from; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'serverless.yml'))) return dir;
  }
  throw new Error(`no serverless.yml above ${from}`);
}
