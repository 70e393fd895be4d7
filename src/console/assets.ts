// Builds the console's files with esbuild: at `npm run bundle` time into the AWS bundle of console-http, and once per
// process under `npm start` (esbuild is a devDependency: no Lambda ever loads this module).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { projectRoot } from '../shared/paths';
import type { ConsoleAssets } from './page';

/** The console's sources: src/console in the checkout (dist/ holds no copy of the browser code). */
export const consoleDir = (): string => path.join(projectRoot(__dirname), 'src', 'console');

async function bundled(entry: string, loader: 'js' | 'css'): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    minify: true,
    // The module script tag and these features need a 2021+ browser; nothing older is offered to.
    target: loader === 'js' ? 'es2022' : 'chrome100',
    format: loader === 'js' ? 'esm' : undefined,
    platform: 'browser',
    legalComments: 'none',
    logLevel: 'warning',
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error(`esbuild wrote nothing for ${entry}`);
  return out.text;
}

/** The page template, script and style sheet, built from src/console. */
export async function buildConsoleAssets(dir: string = consoleDir()): Promise<ConsoleAssets> {
  const [js, css] = await Promise.all([bundled(path.join(dir, 'app', 'main.js'), 'js'), bundled(path.join(dir, 'app.css'), 'css')]);
  const index = readFileSync(path.join(dir, 'index.html'), 'utf8');
  const version = createHash('sha256').update(index).update(js).update(css).digest('hex').slice(0, 12);
  return {
    version,
    index,
    files: {
      'app.js': { contentType: 'text/javascript; charset=utf-8', body: js },
      'app.css': { contentType: 'text/css; charset=utf-8', body: css },
    },
  };
}
