import { BadRequestError } from '../../../src/core/errors';
import { createJob } from '../../../src/core/jobs/create-job';
import { parseUploadKey } from '../../../src/core/jobs/upload-keys';
import { clientOf, FakeStore, modelCatalogOf, realManifest } from './fakes';

const limits = { maxImageBytes: 1024 * 1024, maxPresignedUrls: 10, presignExpiresSeconds: 60 };
const ingestLimits = { maxZipBytes: 8 * 1024 * 1024, maxManifestBytes: 64 * 1024 };
const deps = () => ({ store: new FakeStore(), catalog: modelCatalogOf(realManifest()), limits, ingestLimits });
const acme = clientOf('acme');

describe('createJob names', () => {
  it('sanitises names into upload keys that ingest takes as images, one per name', async () => {
    const created = await createJob(deps(), acme, { names: ['cat photo.jpg', 'é.png', 'photos.zip', 'a..b.jpg'] });
    expect(created.uploads.map((u) => u.key)).toEqual([
      `uploads/${created.job.jobId}/cat_photo.jpg`,
      `uploads/${created.job.jobId}/_.png`,
      `uploads/${created.job.jobId}/photos.zip`,
      `uploads/${created.job.jobId}/a..b.jpg`,
    ]);
    for (const u of created.uploads) expect(parseUploadKey(u.key)).toBeDefined();
    expect(created.job.announced).toBe(4);
  });

  it.each<[string, unknown[], string]>([
    ['empty', ['a.jpg', ''], 'names[1] is empty'],
    ['"."', ['.'], 'names[0] (".") begins with a dot: ingest ignores hidden files, "." and ".."'],
    ['".."', ['a.jpg', 'b.jpg', '..'], 'names[2] ("..") begins with a dot: ingest ignores hidden files, "." and ".."'],
    ['a hidden file', ['.hidden.jpg'], 'names[0] (".hidden.jpg") begins with a dot: ingest ignores hidden files, "." and ".."'],
    ['2,000 characters', ['a.jpg', `${'x'.repeat(1996)}.jpg`], 'names[1] is over 255 bytes'],
    ['256 bytes of UTF-8', [`${'é'.repeat(128)}`], 'names[0] is over 255 bytes'],
    ['a duplicate', ['a.jpg', 'b.jpg', 'a.jpg'], 'names[2] is the same upload key as names[0] once sanitised ("a.jpg")'],
    ['a duplicate once sanitised', ['a b.jpg', 'a_b.jpg'], 'names[1] is the same upload key as names[0] once sanitised ("a_b.jpg")'],
    ['not a string', ['a.jpg', 7], 'names[1] is not a string'],
  ])('refuses %s with a 400 naming the index', async (_, names, message) => {
    const d = deps();
    const refusal = await createJob(d, acme, { names }).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(BadRequestError);
    expect(refusal).toMatchObject({ statusCode: 400, code: 'BAD_REQUEST', message, details: { index: Number(/\[(\d+)\]/.exec(message)?.[1]) } });
    // Refused before anything is written: no job that could never finish.
    expect(d.store.objects.size).toBe(0);
  });

  it('refuses names that are not an array', async () => {
    await expect(createJob(deps(), acme, { names: 'a.jpg' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'names must be an array of strings',
    });
  });
});

describe('createJob upload forms', () => {
  it('records the creator as the owner of the job', async () => {
    const d = deps();
    const created = await createJob(d, acme, { count: 1 });
    expect(created.job.owner).toBe('acme');
    expect(JSON.parse(Buffer.from(d.store.objects.get(`jobs/${created.job.jobId}/job.json`)?.body ?? []).toString('utf8'))).toMatchObject({
      owner: 'acme',
    });
  });

  it("bounds each form to its name's exact content type and its kind's size limit, for the presign expiry", async () => {
    // Prepare
    const d = deps();
    const names = ['a.JPG', 'b.jpeg', 'c.png', 'd.webp', 'e.tif', 'photos.zip', 'manifest.csv', 'more.manifest.jsonl', 'notes.txt'];
    // Act
    const created = await createJob(d, acme, { names });
    // Assess
    const prefix = `uploads/${created.job.jobId}/`;
    expect(created.uploads.map((u) => [u.key.slice(prefix.length), u.method, d.store.posts.get(u.key)])).toEqual([
      ['a.JPG', 'POST', { contentType: 'image/jpeg', maxBytes: limits.maxImageBytes, expiresSeconds: 60 }],
      ['b.jpeg', 'POST', { contentType: 'image/jpeg', maxBytes: limits.maxImageBytes, expiresSeconds: 60 }],
      ['c.png', 'POST', { contentType: 'image/png', maxBytes: limits.maxImageBytes, expiresSeconds: 60 }],
      ['d.webp', 'POST', { contentType: 'image/webp', maxBytes: limits.maxImageBytes, expiresSeconds: 60 }],
      ['e.tif', 'POST', { contentType: 'image/tiff', maxBytes: limits.maxImageBytes, expiresSeconds: 60 }],
      ['photos.zip', 'POST', { contentType: 'application/zip', maxBytes: ingestLimits.maxZipBytes, expiresSeconds: 60 }],
      ['manifest.csv', 'POST', { contentType: 'text/csv', maxBytes: ingestLimits.maxManifestBytes, expiresSeconds: 60 }],
      ['more.manifest.jsonl', 'POST', { contentType: 'application/x-ndjson', maxBytes: ingestLimits.maxManifestBytes, expiresSeconds: 60 }],
      // Ingest takes any other name as an image: any image type, not text/plain.
      ['notes.txt', 'POST', { contentTypePrefix: 'image/', maxBytes: limits.maxImageBytes, expiresSeconds: 60 }],
    ]);
    expect(created.uploads[0]).toEqual({ key: `${prefix}a.JPG`, method: 'POST', url: 'https://fake/test-bucket', fields: { key: `${prefix}a.JPG` } });
  });

  it('lets the generated names of a count-only job take any image type', async () => {
    const d = deps();
    const created = await createJob(d, acme, { count: 2 });
    expect(created.uploads.map((u) => d.store.posts.get(u.key))).toEqual([
      { contentTypePrefix: 'image/', maxBytes: limits.maxImageBytes, expiresSeconds: 60 },
      { contentTypePrefix: 'image/', maxBytes: limits.maxImageBytes, expiresSeconds: 60 },
    ]);
  });
});
