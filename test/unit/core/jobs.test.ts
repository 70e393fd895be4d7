import { jobStatus, parseManifest, parseUploadKey, resultsCsv } from '../../../src/core/jobs';

describe('parseUploadKey', () => {
  it('reads job id, name and kind', () => {
    expect(parseUploadKey('uploads/job-1/a/cat.jpg')).toEqual({ jobId: 'job-1', name: 'a/cat.jpg', kind: 'image' });
    expect(parseUploadKey('uploads/job-1/photos.ZIP')).toMatchObject({ kind: 'zip' });
    expect(parseUploadKey('uploads/job-1/manifest.jsonl')).toMatchObject({ kind: 'manifest' });
  });
  it('ignores other prefixes, folders, hidden files and bad job ids', () => {
    expect(parseUploadKey('results/job-1/x.json')).toBeUndefined();
    expect(parseUploadKey('uploads/job-1/dir/')).toBeUndefined();
    expect(parseUploadKey('uploads/job-1/.DS_Store')).toBeUndefined();
    expect(parseUploadKey('uploads/../x.jpg')).toBeUndefined();
  });
});

describe('parseManifest', () => {
  it('CSV with or without a key header, quoted cells', () => {
    expect(parseManifest('key,label\n"a/b.jpg",x\nc.png\n', 'csv')).toEqual(['a/b.jpg', 'c.png']);
    expect(parseManifest('a.jpg\n# comment\nb.jpg', 'csv')).toEqual(['a.jpg', 'b.jpg']);
  });
  it('JSONL of objects or strings; a bad line is an error', () => {
    expect(parseManifest('{"key":"a.jpg"}\n"b.jpg"\n', 'jsonl')).toEqual(['a.jpg', 'b.jpg']);
    expect(() => parseManifest('{"nokey":1}', 'jsonl')).toThrow(/line 1/);
  });
});

describe('jobStatus', () => {
  it('pending → running → done; all failed → failed', () => {
    expect(jobStatus({ expected: 0, ingested: 0, done: 0, failed: 0 })).toBe('pending');
    expect(jobStatus({ expected: 20, ingested: 0, done: 0, failed: 0 })).toBe('pending');
    expect(jobStatus({ expected: 20, ingested: 5, done: 1, failed: 1 })).toBe('running');
    expect(jobStatus({ expected: 20, ingested: 20, done: 19, failed: 1 })).toBe('done');
    expect(jobStatus({ expected: 2, ingested: 2, done: 0, failed: 2 })).toBe('failed');
  });
});

describe('resultsCsv', () => {
  it('quotes cells with commas and quotes', () => {
    const csv = resultsCsv([
      { jobId: 'j', itemId: 'i', key: 'a,b.jpg', etag: 'e', model: { name: 'm', version: '1' }, ok: false, error: { code: 'INVALID_IMAGE', message: 'said "no"' }, completedAt: 't' },
    ]);
    expect(csv.split('\n')[1]).toBe('"a,b.jpg",false,,,,INVALID_IMAGE,"said ""no""",m@1,[]');
  });
});
