import { parseManifest } from '../../../src/core/jobs/parse-manifest';
import { jobStatus, type ResultRecord } from '../../../src/core/jobs/records';
import { resultsCsv } from '../../../src/core/jobs/results';
import { keyProblem, parseUploadKey } from '../../../src/core/jobs/upload-keys';

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
  it('CSV with or without a key header, RFC 4180 quoting, a BOM, # comment lines; keys with # or " inside', () => {
    const csv = '\ufeffkey,label\r\n"a/b,c.jpg",x\r\n# comment\r\nc#1.png\r\nd"e.jpg\r\n"f""g.jpg"\r\n';
    expect(parseManifest(csv, 'csv', 100)).toEqual([
      { line: 2, key: 'a/b,c.jpg' },
      { line: 4, key: 'c#1.png' },
      { line: 5, key: 'd"e.jpg' },
      { line: 6, key: 'f"g.jpg' },
    ]);
    expect(parseManifest('a.jpg\n\n  b.jpg  \n', 'csv', 100)).toEqual([
      { line: 1, key: 'a.jpg' },
      { line: 3, key: 'b.jpg' },
    ]);
  });
  it("CSV: stray quotes are literal, an empty first column is that line's problem, a quote never closed the whole manifest's", () => {
    expect(parseManifest('a.jpg\n"x"y,1\n,z\n', 'csv', 100)).toEqual([
      { line: 1, key: 'a.jpg' },
      { line: 2, key: '"x"y' },
      { line: 3, problem: 'its first column is empty' },
    ]);
    // Everything after an open quote is inside it: no line-by-line verdict, and no line silently lost.
    expect(() => parseManifest('a.jpg\n"open,1\nb.jpg\n', 'csv', 100)).toThrow(
      expect.objectContaining({ code: 'INVALID_MANIFEST', message: 'the manifest is not valid CSV: a quote is never closed' }),
    );
  });
  it('JSONL of objects or strings; a bad line is returned with its line number, the rest still parse', () => {
    expect(parseManifest('\ufeff{"key":"a.jpg"}\n"b.jpg"\n{"nokey":1}\n\nnope\n', 'jsonl', 100)).toEqual([
      { line: 1, key: 'a.jpg' },
      { line: 2, key: 'b.jpg' },
      { line: 3, problem: 'it has no "key"' },
      { line: 5, problem: 'it is not JSON' },
    ]);
  });
  it('a manifest over the line limit is refused whole', () => {
    expect(parseManifest('a\nb\nc', 'csv', 3)).toHaveLength(3);
    expect(() => parseManifest('a\nb\nc\nd', 'csv', 3)).toThrow(
      expect.objectContaining({ code: 'INVALID_MANIFEST', message: 'the manifest is over 3 lines' }),
    );
  });
});

describe('keyProblem', () => {
  it.each([
    ['', 'it is empty'],
    ['a/'.repeat(513), 'it is over 1024 bytes'],
    ['é'.repeat(513), 'it is over 1024 bytes'],
    ['a\nb.jpg', 'it has a control character'],
    ['a/../b.jpg', 'it has a "." or ".." segment'],
    ['./b.jpg', 'it has a "." or ".." segment'],
  ])('%p: %s', (key, problem) => {
    expect(keyProblem(key)).toBe(problem);
  });
  it('accepts what S3 and ingest accept', () => {
    expect(keyProblem('uploads/j/a..b/c d,é.jpg')).toBeUndefined();
    expect(keyProblem('é'.repeat(512))).toBeUndefined();
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
  const base: ResultRecord = { jobId: 'j', itemId: 'i', key: 'k', etag: 'e', model: { name: 'm', version: '1' }, ok: true, completedAt: 't' };

  it('quotes cells with commas and quotes', () => {
    const csv = resultsCsv([{ ...base, key: 'a,b.jpg', ok: false, error: { code: 'INVALID_IMAGE', message: 'said "no"' } }]);
    expect(csv.split('\n')[1]).toBe('"a,b.jpg",false,,,,INVALID_IMAGE,"said ""no""",m@1,[]');
  });

  it('neutralises formula prefixes (= + - @ tab CR) in key, label and message cells with a leading quote', () => {
    const rows = resultsCsv([
      { ...base, key: '=HYPERLINK("http://x","y").jpg', predictions: [{ label: '@SUM(A1)', index: 3, score: 0.5 }] },
      { ...base, key: '+1.jpg', ok: false, error: { code: 'INVALID_IMAGE', message: '-2+3' } },
      { ...base, key: '\tx.jpg', ok: false, error: { code: 'INVALID_IMAGE', message: '\rnope' } },
      { ...base, key: 'a=b.jpg', predictions: [{ label: 'tabby-cat', index: 1, score: 0.25 }] },
    ]).split('\n');
    expect(rows[1]).toBe(
      `"'=HYPERLINK(""http://x"",""y"").jpg",true,'@SUM(A1),3,0.500000,,,m@1,"[{""label"":""@SUM(A1)"",""index"":3,""score"":0.5}]"`,
    );
    expect(rows[2]).toBe("'+1.jpg,false,,,,INVALID_IMAGE,'-2+3,m@1,[]");
    expect(rows[3]).toBe(`'\tx.jpg,false,,,,INVALID_IMAGE,"'\rnope",m@1,[]`);
    // Only a leading character makes a formula: the same characters further in stay as they are.
    expect(rows[4]).toBe('a=b.jpg,true,tabby-cat,1,0.250000,,,m@1,"[{""label"":""tabby-cat"",""index"":1,""score"":0.25}]"');
  });
});
