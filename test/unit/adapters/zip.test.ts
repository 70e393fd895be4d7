import { zipSync } from 'fflate';
import { listZip, RATIO_ALLOWANCE_BYTES, type ZipLimits } from '../../../src/adapters/zip';
import { InvalidArchiveEntryError, InvalidArchiveError, PayloadTooLargeError } from '../../../src/core/errors';
import { buildZip, deflated } from './zip-builder';

const MiB = 1024 * 1024;
const limits: ZipLimits = { maxEntries: 10_000, maxTotalBytes: 2 * 1024 * MiB, maxEntryBytes: 4 * MiB, maxRatio: 100, ratioMinBytes: MiB };
const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5]);
/** Photo-like bytes: they do not compress. */
const noise = (n: number, seed = 1) => {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
};

/** Reads every entry in order, as ingest does: bytes or the entry's own error. */
async function readAll(zip: Uint8Array, l: ZipLimits = limits) {
  const out: Array<{ name: string; data?: Uint8Array; error?: unknown }> = [];
  for (const e of await listZip(zip, l)) {
    try {
      out.push({ name: e.name, data: await e.read() });
    } catch (error: unknown) {
      out.push({ name: e.name, error });
    }
  }
  return out;
}

describe('listZip', () => {
  it('lists the file entries of an honest zip and reads each, stored or deflated', async () => {
    const big = noise(300_000);
    const zip = zipSync({ 'a.jpg': [jpeg, { level: 0 }], 'dir/': new Uint8Array(), 'dir/b.png': big, 'notes.txt': new Uint8Array([1, 2]) });
    const entries = await readAll(zip);
    expect(entries.map((e) => e.name)).toEqual(['a.jpg', 'dir/b.png', 'notes.txt']);
    expect(entries[0]?.data).toEqual(jpeg);
    expect(Buffer.from(entries[1]?.data ?? []).equals(Buffer.from(big))).toBe(true);
  });

  it('refuses a bomb that declares 1,000 bytes and inflates to 100 MB, quickly and in bounded memory', async () => {
    // Prepare: 100 MB of zeros deflate to ~100 KB, and the header says 1,000 bytes (under every limit, ratio ~10:1).
    const bomb = buildZip([
      { name: 'bomb.jpg', raw: { ...deflated(new Uint8Array(100 * 1000 * 1000)), size: 1000 } },
      { name: 'next.jpg', data: jpeg },
    ]);
    expect(bomb.length).toBeLessThan(200_000);
    const [entry, next] = await listZip(bomb, limits);
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 1);
    // Act
    const started = performance.now();
    const outcome = await entry?.read().then(
      () => 'read',
      (err: unknown) => err,
    );
    const ms = performance.now() - started;
    clearInterval(sampler);
    // Assess: refused while streaming, long before 100 MB were inflated; the next entry is unaffected.
    expect(outcome).toBeInstanceOf(InvalidArchiveEntryError);
    expect((outcome as Error).message).toBe('the entry inflates to more than the 1000 bytes its header declares');
    expect(ms).toBeLessThan(500);
    expect(peak - before).toBeLessThan(16 * MiB);
    expect(await next?.read()).toEqual(jpeg);
  });

  it('an entry that compresses 1000:1 is refused by its ratio without inflating; photo-like entries beside it read', async () => {
    const zip = buildZip([
      { name: 'zeros.jpg', raw: deflated(new Uint8Array(4_000_000)) },
      { name: 'a.jpg', data: noise(100_000, 2), method: 0 },
      { name: 'b.jpg', data: noise(100_000, 3), method: 0 },
    ]);
    const entries = await readAll(zip);
    expect(entries[0]?.error).toBeInstanceOf(InvalidArchiveEntryError);
    expect(entries[0]?.error).toMatchObject({
      message: expect.stringMatching(/^the entry declares a compression ratio of \d+:1, over the limit of 100:1$/),
    });
    expect(entries.slice(1).map((e) => e.data?.length)).toEqual([100_000, 100_000]);
  });

  it('280 entries of 4 MB that compress 1000:1 (1.12 GB declared by a 1.1 MB zip): the zip is refused, by its size or by the total', async () => {
    const four = deflated(new Uint8Array(4_000_000));
    const zip = buildZip(Array.from({ length: 280 }, (_, i) => ({ name: `p${i}.jpg`, raw: four })));
    await expect(listZip(zip, limits)).rejects.toMatchObject({
      code: 'INVALID_ARCHIVE',
      message: `the zip declares ${280 * 4_000_000} bytes of content, over 100 times its own ${zip.length} bytes`,
    });
    // 1.12 GB declared: under the default total, over a total of 1 GiB.
    await expect(listZip(zip, { ...limits, maxTotalBytes: 1024 * MiB })).rejects.toMatchObject({
      code: 'INVALID_ARCHIVE',
      message: `the zip declares over ${1024 * MiB} bytes of content`,
    });
  });

  it('2,000 entries of 1 MiB of zeros, each at the ratio floor (2,000 MiB declared by a 2 MB zip), are refused as a whole', async () => {
    // Prepare: each entry is no larger than ratioMinBytes, so no entry's own ratio is checked, and 2,000 MiB is under 2 GiB.
    const mib = deflated(new Uint8Array(MiB));
    const zip = buildZip(Array.from({ length: 2000 }, (_, i) => ({ name: `img-${i}.jpg`, raw: mib })));
    expect(zip.length).toBeLessThan(3_000_000);
    // Act
    const refusal = await listZip(zip, limits).catch((err: unknown) => err);
    // Assess
    expect(refusal).toBeInstanceOf(InvalidArchiveError);
    expect((refusal as Error).message).toBe(`the zip declares ${2000 * MiB} bytes of content, over 100 times its own ${zip.length} bytes`);
  });

  it(`lets a zip declare up to ${RATIO_ALLOWANCE_BYTES} bytes beyond the ratio of its size, and no more`, async () => {
    // Prepare: entries of 32 KiB of zeros (under the floor, each ~250:1); the first count whose total passes the bound.
    const small = deflated(new Uint8Array(32 * 1024));
    const zipOf = (n: number) => buildZip(Array.from({ length: n }, (_, i) => ({ name: `${i}.png`, raw: small })));
    const bound = (zip: Buffer) => limits.maxRatio * zip.length + RATIO_ALLOWANCE_BYTES;
    let n = 1;
    while (n * 32 * 1024 <= bound(zipOf(n))) n += 1;
    // Without the allowance, one such entry alone would be over 100 times its zip.
    expect(n).toBeGreaterThan(10);
    // Act, Assess
    const fits = await readAll(zipOf(n - 1));
    expect(fits.map((e) => e.data?.length)).toEqual(Array(n - 1).fill(32 * 1024));
    await expect(listZip(zipOf(n), limits)).rejects.toMatchObject({ code: 'INVALID_ARCHIVE' });
  });

  it('marks unsafe names per entry, and still lists and reads the entries after them', async () => {
    const zip = buildZip([
      { name: '../evil.jpg', data: jpeg },
      { name: '/etc/abs.jpg', data: jpeg },
      { name: 'C:/win.jpg', data: jpeg },
      { name: 'a\\b.jpg', data: jpeg },
      { name: `${'n'.repeat(2000)}.jpg`, data: jpeg },
      { name: 'ok.jpg', data: jpeg },
    ]);
    const entries = await listZip(zip, limits);
    expect(entries.map((e) => e.unsafeName)).toEqual(['a ".." segment', 'an absolute path', 'an absolute path', 'a backslash', undefined, undefined]);
    // Length is the ingest's rule (it depends on the key the entry would get): the adapter reads the entry.
    expect(entries[4]?.name).toHaveLength(2004);
    expect(await entries[5]?.read()).toEqual(jpeg);
  });

  it('refuses an oversized entry by its declared size, without reading it; the others read', async () => {
    const zip = zipSync({ 'big.jpg': [noise(4 * MiB + 1), { level: 0 }], 'small.jpg': jpeg });
    const entries = await readAll(zip);
    expect(entries[0]?.error).toBeInstanceOf(PayloadTooLargeError);
    expect(entries[0]?.error).toMatchObject({ message: `the entry is ${4 * MiB + 1} bytes, over the image limit of ${4 * MiB}` });
    expect(entries[1]?.data).toEqual(jpeg);
  });

  it('refuses entries whose bytes belie their header: fewer bytes, corrupt data, a wrong CRC', async () => {
    const corrupt = deflated(noise(5000));
    corrupt.bytes[10] = (corrupt.bytes[10] ?? 0) ^ 0xff;
    corrupt.bytes[0] = 0xff;
    const zip = buildZip([
      { name: 'short.jpg', raw: { ...deflated(noise(5000)), size: 10_000 } },
      { name: 'corrupt.jpg', raw: corrupt },
      { name: 'crc.jpg', raw: { ...deflated(noise(5000)), crc: 1234 } },
      { name: 'good.jpg', data: jpeg },
    ]);
    const entries = await readAll(zip);
    expect(entries.map((e) => (e.error instanceof InvalidArchiveEntryError ? e.error.message : 'read'))).toEqual([
      'the entry inflates to fewer than the 10000 bytes its header declares',
      "the entry's compressed data is corrupt",
      "the entry's CRC-32 does not match its bytes",
      'read',
    ]);
  });

  it.each([
    ['not a zip', () => Buffer.from('PK\u0003\u0004 this is not really a zip'), 'not a zip archive (no end of central directory)'],
    [
      'a directory offset past the end',
      () => {
        const zip = Buffer.from(zipSync({ 'a.jpg': jpeg }));
        zip.writeUInt32LE(0x7fffffff, zip.length - 22 + 16);
        return zip;
      },
      'corrupt zip central directory (truncated or inconsistent offsets)',
    ],
    [
      'an encrypted entry',
      () =>
        buildZip([
          { name: 'a.jpg', data: jpeg },
          { name: 'b.jpg', data: jpeg, flags: 1 },
        ]),
      'the zip is encrypted',
    ],
    [
      'more entries than allowed',
      () => buildZip(Array.from({ length: 4 }, (_, i) => ({ name: `${i}.jpg`, data: jpeg }))),
      'the zip has 4 entries, over the limit of 3',
    ],
  ])('refuses the whole zip for %s, before handing out any entry', async (_, zip, message) => {
    const refusal = await listZip(zip(), { ...limits, maxEntries: 3 }).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(InvalidArchiveError);
    expect((refusal as Error).message).toBe(message);
  });
});
