// `npm run bundle`: one self-contained file per Lambda function, dist/lambda/<handler>.js, which serverless.yml
// packages alone into that function's zip. Everything pure JS is inside (the AWS SDK included: the runtime's
// copy is not pinned, and conditional writes need a recent one); only the native modules stay out, for the
// inference layer to provide on NODE_PATH.
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { build, type Metafile, type Plugin } from 'esbuild';
import { buildConsoleAssets } from '../../console/assets';
import { projectRoot } from '../../shared/paths';

/** Native add-ons, with their per-platform binaries: the inference layer's, never a function's. */
export const LAYER_MODULES = ['onnxruntime-node', 'sharp'] as const;

export interface FunctionBundle {
  /** The handler module's name, as in serverless.yml: predict-http, ingest-s3 … */
  name: string;
  file: string;
  bytes: number;
  /** The layer modules this bundle requires: empty for a function that never classifies. */
  layerModules: string[];
}

const root = projectRoot();
export const BUNDLE_DIR = path.join(root, 'dist', 'lambda');

/**
 * A dynamic import() of our own code is a path only `npm start` takes (GET /health reaching the shared engine of
 * the one local process): it stays out of the bundle, so a function that never classifies carries no engine.
 */
const dynamicImportsStayOut: Plugin = {
  name: 'dynamic-imports-stay-out',
  setup(b) {
    const ours = path.join(root, 'src') + path.sep;
    b.onResolve({ filter: /^\./ }, (args) =>
      args.kind === 'dynamic-import' && args.importer.startsWith(ours) ? { path: args.path, external: true } : undefined,
    );
  },
};

const requiredLayerModules = (meta: Metafile): string[] =>
  LAYER_MODULES.filter((m) =>
    Object.values(meta.outputs).some((o) => o.imports.some((i) => i.external && (i.path === m || i.path.startsWith(`${m}/`)))),
  );

/** Bundles every handler in src/handlers into dist/lambda. */
export async function bundleFunctions(): Promise<FunctionBundle[]> {
  const handlersDir = path.join(root, 'src', 'handlers');
  const names = readdirSync(handlersDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();
  rmSync(BUNDLE_DIR, { recursive: true, force: true });
  // The console's page, script and style sheet travel inside its function's bundle: a Lambda has no src/console.
  const consoleAssets = JSON.stringify(await buildConsoleAssets());
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(BUNDLE_DIR, `${name}.js`);
      const define: Record<string, string> = name === 'console-http' ? { __CONSOLE_ASSETS__: consoleAssets } : {};
      const result = await build({
        entryPoints: [path.join(handlersDir, `${name}.ts`)],
        outfile: file,
        bundle: true,
        platform: 'node',
        target: 'node22',
        format: 'cjs',
        // ES modules first: the AWS SDK's and Powertools' ESM builds tree-shake, their CJS builds do not.
        mainFields: ['module', 'main'],
        external: LAYER_MODULES.flatMap((m) => [m, `${m}/*`]),
        plugins: [dynamicImportsStayOut],
        define,
        // Whitespace and syntax only: stack traces in CloudWatch keep readable names.
        minifyWhitespace: true,
        minifySyntax: true,
        // A class renamed to dodge a clash inside a bundle (NotFoundError2) would change the `error` field clients read.
        keepNames: true,
        legalComments: 'eof',
        metafile: true,
        logLevel: 'warning',
      });
      return { name, file, bytes: statSync(file).size, layerModules: requiredLayerModules(result.metafile) };
    }),
  );
}

/** One line per bundle: its size and the native modules it leaves to the inference layer. */
export function printBundles(bundles: readonly FunctionBundle[]): void {
  for (const b of bundles)
    console.log(`[bundle] ${b.name.padEnd(20)} ${(b.bytes / 1e6).toFixed(2)} MB  native: ${b.layerModules.join(', ') || 'none'}`);
}

if (require.main === module) {
  bundleFunctions()
    .then(printBundles)
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
