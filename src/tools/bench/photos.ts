import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { imagesDir } from '../../shared/paths';

export interface Photo {
  name: string;
  bytes: Buffer;
  contentType: string;
}

export function loadPhotos(dir: string = imagesDir()): Photo[] {
  return readdirSync(dir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(path.join(dir, name)), contentType: name.endsWith('.png') ? 'image/png' : 'image/jpeg' }));
}
