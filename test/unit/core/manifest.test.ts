import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseTopK } from '../../../src/core/classify';
import { parseLabels } from '../../../src/core/labels';
import { validateManifest } from '../../../src/core/manifest';

const manifestPath = path.join(__dirname, '..', '..', '..', 'models', 'mobilenetv2-int8', 'model.json');

describe('validateManifest', () => {
  it('accepts the committed manifests', () => {
    const m = validateManifest(JSON.parse(readFileSync(manifestPath, 'utf8')), manifestPath);
    expect(m.normalize.mean).toEqual([0.485, 0.456, 0.406]);
    expect(m.input.dynamicBatch).toBe(true);
  });
  it('names the broken field', () => {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
    m.files.model.sha256 = 'abc';
    expect(() => validateManifest(m, 'x.json')).toThrow('x.json: files.model.sha256 must be 64 hex digits');
    delete m.normalize;
    expect(() => validateManifest(m, 'x.json')).toThrow(/normalize/);
  });
});

describe('parseLabels', () => {
  it('synset lines become their first name', () => {
    expect(parseLabels('n01440764 tench, Tinca tinca\nn02124075 Egyptian cat\n\n', 'synset')).toEqual(['tench', 'Egyptian cat']);
  });
});

describe('parseTopK', () => {
  it('defaults to 5 and accepts 1..20 from strings or numbers', () => {
    expect(parseTopK(undefined)).toBe(5);
    expect(parseTopK('20')).toBe(20);
    expect(parseTopK(1)).toBe(1);
  });
  it.each(['0', '21', '2.5', 'abc', -1])('refuses %p with a 400', (v) => {
    expect(() => parseTopK(v)).toThrow(expect.objectContaining({ statusCode: 400, code: 'BAD_REQUEST' }));
  });
});
