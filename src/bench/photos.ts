import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** `--name value` from the command line, else the fallback. */
export const flag = (name: string, fallback: string, args: readonly string[] = process.argv.slice(2)): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? (args[i + 1] as string) : fallback;
};

/** The shared test photos (never committed): TEST_IMAGES_DIR, else ../shared/images beside the checkout. */
export const defaultImagesDir = (): string =>
  path.resolve(process.env.TEST_IMAGES_DIR || path.join(__dirname, '..', '..', '..', '..', 'shared', 'images'));

export interface Photo {
  name: string;
  bytes: Buffer;
  contentType: string;
}

export function loadPhotos(dir: string = defaultImagesDir()): Photo[] {
  return readdirSync(dir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(path.join(dir, name)), contentType: name.endsWith('.png') ? 'image/png' : 'image/jpeg' }));
}
