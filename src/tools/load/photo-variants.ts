import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { imagesDir, reportsDir } from '../../shared/paths';

/** Bumped whenever the recipe changes, so an old set is never mistaken for a new one. */
const RECIPE = 1;

/** A small seeded PRNG (mulberry32): the same seed always yields the same sequence (the same photos, the same bytes). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function variant(source: Buffer, index: number): Promise<{ bytes: Buffer; ext: string }> {
  const r = prng(index + 1);
  const meta = await sharp(source).metadata();
  const w = meta.width ?? 224;
  const h = meta.height ?? 224;
  // Crops keep 70–100 % of each side, so every variant still shows its subject and costs about what a photo costs.
  const cw = Math.max(64, Math.round(w * (0.7 + 0.3 * r())));
  const ch = Math.max(64, Math.round(h * (0.7 + 0.3 * r())));
  let img = sharp(source).extract({
    left: Math.floor((w - Math.min(cw, w)) * r()),
    top: Math.floor((h - Math.min(ch, h)) * r()),
    width: Math.min(cw, w),
    height: Math.min(ch, h),
  });
  if (r() < 0.5) img = img.flop();
  if (r() < 0.2) img = img.flip();
  const kind = r();
  if (kind < 0.8) return { bytes: await img.jpeg({ quality: 70 + Math.floor(25 * r()) }).toBuffer(), ext: '.jpg' };
  if (kind < 0.9) return { bytes: await img.png().toBuffer(), ext: '.png' };
  return { bytes: await img.webp({ quality: 75 + Math.floor(20 * r()) }).toBuffer(), ext: '.webp' };
}

/**
 * A folder of `count` distinct photos made from the shared test photos (crops, mirror images, re-encodes), so a
 * load run never sends the same bytes twice in a row and a content-hash cache cannot flatter it. Made once per
 * count under `parent` and reused.
 */
export async function ensurePhotoVariants(count: number, parent: string, sourceDir: string): Promise<string> {
  const dir = path.join(parent, `photos-r${RECIPE}-${count}`);
  if (existsSync(path.join(dir, 'done.json'))) return dir;
  const sources = readdirSync(sourceDir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort()
    .map((f) => ({ name: f.replace(/\.[^.]+$/, ''), bytes: readFileSync(path.join(sourceDir, f)) }));
  if (sources.length === 0) throw new Error(`no photos in ${sourceDir}; set TEST_IMAGES_DIR`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (let i = 0; i < count; i++) {
    const src = sources[i % sources.length];
    if (!src) continue;
    const v = await variant(src.bytes, i);
    writeFileSync(path.join(tmp, `v${String(i).padStart(5, '0')}-${src.name}${v.ext}`), v.bytes);
  }
  writeFileSync(path.join(tmp, 'done.json'), `${JSON.stringify({ recipe: RECIPE, count, sources: sources.map((s) => s.name) })}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

/** How many distinct photos a load run sends unless told otherwise (`npm run load:locust -- --photos N`). */
export const LOAD_PHOTO_COUNT = 512;

/** The load runs' distinct photos (Locust, and Artillery's `--mix locust`): made once under reports/.photos. */
export const loadPhotos = (count = LOAD_PHOTO_COUNT): Promise<string> => ensurePhotoVariants(count, path.join(reportsDir(), '.photos'), imagesDir());
