// The local stack's API keys: API_KEYS when set, else one development key made on first start and kept under the data
// directory; and, for the repo's own clients (CLIs, benches, load), the key to send.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type ApiKeyEntry, parseApiKeys } from '../config';
import { projectRoot } from '../shared/paths';

/** The development key's file under the data directory: one API_KEYS entry, readable by its owner alone. */
export const DEV_KEY_FILE = 'dev-api-key';
/**
 * The development key's limits: one developer, but also every virtual user of `npm run load` and the benches, so
 * they measure the service and not its limiter. Edit the file's entry to try others.
 */
export const DEV_KEY_LIMITS = { ratePerSecond: 1000, burst: 2000 };

/** A new random key: 192 bits, URL-safe. */
export const newApiKey = (): string => randomBytes(24).toString('base64url');

export interface LocalKeys {
  /** The API_KEYS value serverless-offline's functions get. */
  apiKeys: string;
  /** A key the stack accepts: the development key, else API_KEYS's first. */
  apiKey: string;
  /** Where the development key lives, when it is the one in use. */
  devKeyFile?: string;
  /** Whether this start created it. */
  created?: boolean;
}

const readEntry = (file: string): ApiKeyEntry[] => {
  try {
    return parseApiKeys(readFileSync(file, 'utf8').trim());
  } catch (err: unknown) {
    throw new Error(`${file}: ${err instanceof Error ? err.message : String(err)} (delete the file to get a new key)`);
  }
};

/** API_KEYS from the environment, validated now rather than at the first request; else the development key's. */
export function localApiKeys(dataDir: string, env: NodeJS.ProcessEnv = process.env): LocalKeys {
  const fromEnv = env.API_KEYS?.trim();
  if (fromEnv) {
    const first = parseApiKeys(fromEnv)[0];
    if (first) return { apiKeys: fromEnv, apiKey: first.key };
  }
  const file = path.join(dataDir, DEV_KEY_FILE);
  let created = false;
  if (!existsSync(file)) {
    // `wx`: two starts racing on a fresh directory keep one key, not two.
    try {
      writeFileSync(file, `dev:${newApiKey()}:${DEV_KEY_LIMITS.ratePerSecond}:${DEV_KEY_LIMITS.burst}\n`, { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  // Copied in from elsewhere with looser permissions: a key is a secret.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const entries = readEntry(file);
  const first = entries[0];
  if (!first) throw new Error(`${file} holds no API_KEYS entry (delete it to get a new key)`);
  return { apiKeys: entries.map((e) => `${e.name}:${e.key}:${e.ratePerSecond}:${e.burst}`).join(','), apiKey: first.key, devKeyFile: file, created };
}

/** `npm start`'s data directory, as src/local/start.ts resolves it. */
export const localDataDir = (env: NodeJS.ProcessEnv = process.env): string =>
  path.resolve(env.LOCAL_DATA_DIR || path.join(projectRoot(), '.local-data'));

const isLoopback = (url: string): boolean => {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
};

/**
 * The key one of this repo's clients sends to `target`: `--api-key`, else API_KEY, else, to this machine only, the
 * local development key if there is one.
 */
export function clientApiKey(flag: string | undefined, target: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag) return flag;
  if (env.API_KEY) return env.API_KEY;
  if (!isLoopback(target)) return undefined;
  const file = path.join(localDataDir(env), DEV_KEY_FILE);
  return existsSync(file) ? readEntry(file)[0]?.key : undefined;
}
