#!/usr/bin/env node
// `npm run layers:build`: the two Lambda layers serverless.yml references.
//   layers/inference/nodejs/node_modules: onnxruntime-node and sharp with their dependencies, linux-x64 only
//     (onnxruntime-node ships every platform, ~288 MB; Lambda's unzipped limit is 250 MB for function + layers).
//   layers/models/models/<name>/: each model's manifest, weights and labels, checked by sha256 → /opt/models.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nm = path.join(root, 'node_modules');
const out = path.join(root, 'layers', 'inference', 'nodejs', 'node_modules');
const ROOTS = ['onnxruntime-node', 'sharp', '@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64'];

function closure(names, seen = new Set()) {
  for (const name of names) {
    if (seen.has(name)) continue;
    const pj = path.join(nm, name, 'package.json');
    if (!existsSync(pj)) continue; // optional deps for other platforms
    seen.add(name);
    const { dependencies = {} } = JSON.parse(readFileSync(pj, 'utf8'));
    closure(Object.keys(dependencies), seen);
  }
  return seen;
}

const du = (p) => (statSync(p).isDirectory() ? readdirSync(p).reduce((s, f) => s + du(path.join(p, f)), 0) : statSync(p).size);

rmSync(path.join(root, 'layers', 'inference', 'nodejs'), { recursive: true, force: true });
for (const name of closure(ROOTS)) cpSync(path.join(nm, name), path.join(out, name), { recursive: true, dereference: true });
const bin = path.join(out, 'onnxruntime-node', 'bin', 'napi-v6');
for (const platform of readdirSync(bin)) {
  for (const arch of readdirSync(path.join(bin, platform))) {
    if (!(platform === 'linux' && arch === 'x64')) rmSync(path.join(bin, platform, arch), { recursive: true, force: true });
  }
}
console.log(`[layers] inference: ${(du(out) / 1e6).toFixed(1)} MB (${[...closure(ROOTS)].length} packages)`);

const modelsOut = path.join(root, 'layers', 'models', 'models');
rmSync(modelsOut, { recursive: true, force: true });
for (const name of readdirSync(path.join(root, 'models'))) {
  const manifestPath = path.join(root, 'models', name, 'model.json');
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  mkdirSync(path.join(modelsOut, name), { recursive: true });
  cpSync(manifestPath, path.join(modelsOut, name, 'model.json'));
  for (const spec of Object.values(manifest.files)) {
    const src = path.join(root, 'models', name, spec.file);
    const sum = existsSync(src) ? createHash('sha256').update(readFileSync(src)).digest('hex') : 'missing';
    if (sum !== spec.sha256) throw new Error(`${src}: sha256 ${sum}, manifest says ${spec.sha256}; run npm run models:fetch`);
    cpSync(src, path.join(modelsOut, name, spec.file));
  }
}
console.log(`[layers] models: ${(du(modelsOut) / 1e6).toFixed(1)} MB`);
