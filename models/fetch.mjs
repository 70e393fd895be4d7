#!/usr/bin/env node
// Pulls every file that models/<name>/model.json lists, by sha256, from MODELS_SOURCE (a folder or an
// http(s) base URL). Model weights are never committed; this runs as npm's postinstall.
//
// Without MODELS_SOURCE it falls back to ../shared/models when that folder exists (the layout of our
// development machines and CI). With neither, it warns and leaves the models missing: the service then
// refuses to start with a clear message rather than failing mid-request.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const modelsDir = path.join(root, 'models');
const fallback = path.resolve(root, '..', 'shared', 'models');
const source = process.env.MODELS_SOURCE || (existsSync(fallback) ? fallback : '');
const strict = process.argv.includes('--strict');

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

async function readSource(rel) {
  if (/^https?:\/\//.test(source)) {
    const url = `${source.replace(/\/+$/, '')}/${rel}`;
    const res = await fetch(url);
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
  return readFile(path.resolve(root, source, rel));
}

async function fetchFile(modelName, spec) {
  const dest = path.join(modelsDir, modelName, spec.file);
  if (existsSync(dest) && sha256(await readFile(dest)) === spec.sha256) return 'present';
  const data = await readSource(spec.source);
  const got = sha256(data);
  if (got !== spec.sha256) {
    throw new Error(`${spec.source}: sha256 ${got} does not match the manifest's ${spec.sha256}`);
  }
  // Write then rename, so an interrupted install never leaves a truncated model behind.
  const tmp = `${dest}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, dest);
  return 'fetched';
}

async function main() {
  const names = (await readdir(modelsDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  if (!source) {
    const msg = 'MODELS_SOURCE is not set and ../shared/models does not exist: model files were not fetched.';
    if (strict) throw new Error(msg);
    console.warn(`[models] ${msg} Set MODELS_SOURCE to a folder or http(s) URL and run "npm run models:fetch".`);
    return;
  }
  for (const name of names.sort()) {
    const manifestPath = path.join(modelsDir, name, 'model.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    await mkdir(path.join(modelsDir, name), { recursive: true });
    for (const [role, spec] of Object.entries(manifest.files)) {
      const state = await fetchFile(name, spec);
      console.log(`[models] ${name}/${spec.file} (${role}) ${state}, sha256 ${spec.sha256.slice(0, 12)}…`);
    }
  }
}

main().catch((err) => {
  console.error(`[models] ${err.message}`);
  process.exit(1);
});
