import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseApiKeys } from '../../../src/config';
import { clientApiKey, DEV_KEY_FILE, localApiKeys } from '../../../src/local/dev-key';

describe('the development key', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dev-key-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is made on first start, readable by its owner alone, and the same on every start after', () => {
    // Act
    const first = localApiKeys(dir, {});
    const again = localApiKeys(dir, {});
    // Assess
    const file = path.join(dir, DEV_KEY_FILE);
    expect(first).toMatchObject({ devKeyFile: file, created: true });
    expect(again).toMatchObject({ devKeyFile: file, created: false, apiKey: first.apiKey });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(parseApiKeys(first.apiKeys)).toEqual([{ name: 'dev', key: first.apiKey, ratePerSecond: 1000, burst: 2000 }]);
  });

  it('gets its permissions back to 0600, and a broken file is named with the fix', () => {
    localApiKeys(dir, {});
    const file = path.join(dir, DEV_KEY_FILE);
    chmodSync(file, 0o644);
    localApiKeys(dir, {});
    expect(statSync(file).mode & 0o777).toBe(0o600);
    writeFileSync(file, 'dev:short\n');
    expect(() => localApiKeys(dir, {})).toThrow(/dev-api-key: API_KEYS entry 1 \("dev"\): the key must be .*delete the file/);
  });

  it('is not made when API_KEYS is set, which is validated at start', () => {
    const keys = localApiKeys(dir, { API_KEYS: 'a:aaaaaaaaaaaaaaaaaaaa,b:bbbbbbbbbbbbbbbbbbbb' });
    expect(keys).toEqual({ apiKeys: 'a:aaaaaaaaaaaaaaaaaaaa,b:bbbbbbbbbbbbbbbbbbbb', apiKey: 'aaaaaaaaaaaaaaaaaaaa' });
    expect(() => readFileSync(path.join(dir, DEV_KEY_FILE))).toThrow(/ENOENT/);
    expect(() => localApiKeys(dir, { API_KEYS: 'a:short' })).toThrow(/entry 1 \("a"\)/);
  });

  it('is what the CLIs send to this machine when given no key, and never to another host', () => {
    const { apiKey } = localApiKeys(dir, {});
    const env = { LOCAL_DATA_DIR: dir };
    expect(clientApiKey(undefined, 'http://127.0.0.1:3000', env)).toBe(apiKey);
    expect(clientApiKey(undefined, 'https://abc.execute-api.us-east-1.amazonaws.com/prod', env)).toBeUndefined();
    expect(clientApiKey(undefined, 'https://abc.example', { ...env, API_KEY: 'from-env' })).toBe('from-env');
    expect(clientApiKey('from-flag', 'http://localhost:3000', { ...env, API_KEY: 'from-env' })).toBe('from-flag');
  });
});
