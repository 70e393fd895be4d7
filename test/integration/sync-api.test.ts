import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { EXPECTED_TOP5 } from '../../src/tools/bench/reference-top5';
import { photoNames } from '../fixtures/paths';
import { call, mimeOf, multipart, photo } from './helpers';

const DEFAULT = 'mobilenetv2-int8';
const top1 = (name: string, model = DEFAULT) => EXPECTED_TOP5[model]?.[name]?.[0]?.index;

describe('POST /predict over HTTP through the local stack', () => {
  it.each(photoNames())('raw body %s: byte-exact upload, expected top-1, timings', async (name) => {
    // Prepare
    const bytes = photo(name);
    // Act
    const res = await call('POST', '/predict', { body: new Uint8Array(bytes), headers: { 'Content-Type': mimeOf(name) } });
    // Assess
    expect(res.status).toBe(200);
    expect(res.body.image.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(res.body.image.bytes).toBe(bytes.length);
    expect(res.body.predictions).toHaveLength(5);
    expect(res.body.predictions[0].index).toBe(top1(name));
    expect(res.body.model).toEqual({ name: DEFAULT, version: '1.0.0' });
    expect(res.body.timings.totalMs).toBeGreaterThan(0);
    expect(res.body.timings.inferMs).toBeGreaterThan(0);
    expect(res.body.timings.decodeMs).toBeGreaterThan(0);
    expect(typeof res.body.requestId).toBe('string');
    expect(res.headers.get('x-request-id')).toBe(res.body.requestId);
  });

  it('multipart field "file" with model and topK fields', async () => {
    const form = multipart([{ field: 'file', name: 'pelican.jpeg', data: photo('pelican.jpeg'), type: 'image/jpeg' }], {
      model: 'mobilenet-v1-0.75-fp32',
      topK: '3',
    });
    const res = await call('POST', '/predict', { body: form });
    expect(res.status).toBe(200);
    expect(res.body.model.name).toBe('mobilenet-v1-0.75-fp32');
    expect(res.body.predictions).toHaveLength(3);
    expect(res.body.predictions[0]).toMatchObject({ index: 144, label: 'pelican' });
    const scores = res.body.predictions.map((p: { score: number }) => p.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  it('JSON base64 body, topK from the query string', async () => {
    const res = await call('POST', '/predict?topK=20', {
      body: JSON.stringify({ image: photo('goldfish.jpg').toString('base64') }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(res.body.predictions).toHaveLength(20);
    expect(res.body.predictions[0]).toMatchObject({ index: 1, label: 'goldfish' });
  });

  it('webp, gif, tiff, avif, grayscale, 16-bit and EXIF-rotated variants decode', async () => {
    const src = photo('bald_eagle.jpeg');
    const variants: Array<[string, Buffer]> = [
      ['image/webp', await sharp(src).webp().toBuffer()],
      ['image/gif', await sharp(src).gif().toBuffer()],
      ['image/tiff', await sharp(src).tiff().toBuffer()],
      ['image/avif', await sharp(src).avif({ effort: 0 }).toBuffer()],
      ['image/png', await sharp(src).grayscale().png().toBuffer()],
      ['image/png', await sharp(src).toColourspace('rgb16').png().toBuffer()],
      // Stored rotated on its side with an EXIF tag that rights it: must classify like the original.
      ['image/jpeg', await sharp(src).rotate(90).withMetadata({ orientation: 8 }).jpeg().toBuffer()],
    ];
    for (const [type, body] of variants) {
      const res = await call('POST', '/predict', { body: new Uint8Array(body), headers: { 'Content-Type': type } });
      expect({ type, status: res.status }).toEqual({ type, status: 200 });
      if (type !== 'image/png' || res.body.image.format === 'png') expect(res.body.predictions[0].index).toBe(22);
    }
  });
});

describe('POST /predict/batch', () => {
  it('returns one result per image in order, with a per-item error for the bad one', async () => {
    const names = ['pelican.jpeg', 'goldfish.jpg', 'orange.png'];
    const files = names.map((n) => ({ field: 'files', name: n, data: photo(n), type: mimeOf(n) }));
    files.splice(1, 0, { field: 'files', name: 'notes.txt', data: Buffer.from('not an image'), type: 'image/jpeg' });
    const res = await call('POST', '/predict/batch', { body: multipart(files, { topK: '2' }) });
    expect(res.status).toBe(200);
    expect(res.body.count).toBe(4);
    expect(res.body.failed).toBe(1);
    const r = res.body.results;
    expect(r.map((x: { ok: boolean }) => x.ok)).toEqual([true, false, true, true]);
    expect(r[0].predictions[0].index).toBe(144);
    expect(r[1].error.code).toBe('INVALID_IMAGE');
    expect(r[2].predictions[0].index).toBe(1);
    expect(r[3].predictions[0].index).toBe(950);
    expect(r[3].predictions).toHaveLength(2);
  });

  it('refuses more than 16 images with 413', async () => {
    const files = Array.from({ length: 17 }, (_, i) => ({ field: 'files', name: `${i}.jpg`, data: photo('goldfish.jpg'), type: 'image/jpeg' }));
    const res = await call('POST', '/predict/batch', { body: multipart(files) });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('errors: a clear JSON error, never a crash', () => {
  const expectError = (res: { status: number; body: Record<string, unknown> }, status: number, code: string) => {
    expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
    expect(typeof res.body.message).toBe('string');
    expect(typeof res.body.requestId).toBe('string');
    expect(typeof res.body.error).toBe('string');
  };

  it('415 for an unsupported content type', async () => {
    expectError(await call('POST', '/predict', { body: 'hello', headers: { 'Content-Type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
  it('400 for bytes that are not an image', async () => {
    expectError(
      await call('POST', '/predict', { body: new Uint8Array(Buffer.from('GIF89a-but-not-really')), headers: { 'Content-Type': 'image/gif' } }),
      400,
      'INVALID_IMAGE',
    );
  });
  it('400 for malformed JSON and bad base64', async () => {
    expectError(await call('POST', '/predict', { body: '{"image":', headers: { 'Content-Type': 'application/json' } }), 400, 'BAD_REQUEST');
    expectError(await call('POST', '/predict', { body: '{"image":"***"}', headers: { 'Content-Type': 'application/json' } }), 400, 'BAD_REQUEST');
  });
  it('400 for malformed multipart', async () => {
    expectError(
      await call('POST', '/predict', { body: '--x\r\nbroken', headers: { 'Content-Type': 'multipart/form-data; boundary=x' } }),
      400,
      'BAD_REQUEST',
    );
  });
  it('400 for an out-of-range topK', async () => {
    expectError(
      await call('POST', '/predict?topK=21', { body: new Uint8Array(photo('goldfish.jpg')), headers: { 'Content-Type': 'image/jpeg' } }),
      400,
      'BAD_REQUEST',
    );
  });
  it('404 for an unknown model', async () => {
    expectError(
      await call('POST', '/predict?model=resnet-9000', { body: new Uint8Array(photo('goldfish.jpg')), headers: { 'Content-Type': 'image/jpeg' } }),
      404,
      'MODEL_NOT_FOUND',
    );
  });
  it('413 for an image over the size limit', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 1);
    expectError(await call('POST', '/predict', { body: new Uint8Array(big), headers: { 'Content-Type': 'image/jpeg' } }), 413, 'PAYLOAD_TOO_LARGE');
  });
  it('422 for an image over the pixel limit (decompression bomb)', async () => {
    // 8000×6000 of one colour: a few KB of PNG, 48 MP decoded.
    const bomb = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    expectError(await call('POST', '/predict', { body: new Uint8Array(bomb), headers: { 'Content-Type': 'image/png' } }), 422, 'UNUSABLE_IMAGE');
  });
});

describe('operator routes', () => {
  it('GET /health reports ready, model and uptime', async () => {
    const res = await call('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', ready: true, live: true, model: { name: DEFAULT, version: '1.0.0' } });
    expect(res.body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(res.body.engine.kind).toBe('pool');
  });

  it('GET /models lists both models with sha256, input spec, labels and load time', async () => {
    const res = await call('GET', '/models');
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(res.body.models.map((m: { name: string }) => [m.name, m]));
    expect(byName[DEFAULT]).toMatchObject({
      default: true,
      sha256: '2458946f3f68516de65813dea18d4b9759f67b679dc51230b58b787a88737938',
      labels: 1000,
      input: { height: 224, width: 224, layout: 'NCHW' },
    });
    expect(byName[DEFAULT].loadMs).toBeGreaterThan(0);
    expect(byName['mobilenet-v1-0.75-fp32'].sha256).toBe('599ca7a3f2bd12558f31ac5547ea3a4c105e704d78e465cccd5590a8d5f71c4b');
  });

  it('GET /metrics exposes Prometheus counters and histograms that move with traffic', async () => {
    const before = (await call('GET', '/metrics')).body.text as string;
    await call('POST', '/predict', { body: new Uint8Array(photo('goldfish.jpg')), headers: { 'Content-Type': 'image/jpeg' } });
    const res = await call('GET', '/metrics');
    const after = res.body.text as string;
    const count = (text: string) => sample(parseExposition(text), 'images_classified_total', { model: DEFAULT, outcome: 'ok' }) ?? 0;
    expect(count(after)).toBe(count(before) + 1);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const scrape = parseExposition(after);
    expect(scrape.types.get('http_request_duration_seconds')).toBe('histogram');
    expect(sample(scrape, 'http_requests_total', { route: 'POST /predict', status: '200' })).toBeGreaterThan(0);
    expect(sample(scrape, 'model_inference_duration_seconds_bucket', { model: DEFAULT, le: '0.01' })).toBeGreaterThanOrEqual(0);
    expect(sample(scrape, 'image_decode_duration_seconds_count', { model: DEFAULT })).toBeGreaterThan(0);
    expect(sample(scrape, 'model_load_seconds', { model: DEFAULT })).toBeGreaterThan(0);
    // Sampled ten times a second since the first request built the container.
    expect(sample(scrape, 'nodejs_eventloop_delay_seconds_count', {})).toBeGreaterThan(0);
    // prom-client's default process metrics, in the same registry.
    expect(scrape.types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(sample(scrape, 'process_resident_memory_bytes', {})).toBeGreaterThan(0);
    expect(scrape.types.get('nodejs_gc_duration_seconds')).toBe('histogram');
    // prom-client's lag gauges are left out (NaN between close scrapes): the delay histogram above says it.
    expect(scrape.types.has('nodejs_eventloop_lag_mean_seconds')).toBe(false);
  });
});

interface Exposition {
  types: Map<string, string>;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

/** The text exposition format, strictly: a line that is neither a comment, blank, nor a well-formed sample fails the test. */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Exposition['samples'] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus exposition line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    const value = m[3] === '+Inf' ? Number.POSITIVE_INFINITY : m[3] === '-Inf' ? Number.NEGATIVE_INFINITY : Number(m[3]);
    // Values as Go's ParseFloat reads them, as the format says: NaN in any case (prom-client writes Nan).
    if (Number.isNaN(value) && m[3]?.toLowerCase() !== 'nan') throw new Error(`not a sample value: ${JSON.stringify(line)}`);
    const family = (m[1] as string).replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1] as string) && !types.has(family)) throw new Error(`sample before its # TYPE line: ${JSON.stringify(line)}`);
    samples.push({ name: m[1] as string, labels, value });
  }
  return { types, samples };
}

/** The value of the one sample with exactly these labels, if there is one. */
function sample(e: Exposition, name: string, labels: Record<string, string>): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return e.samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}

describe('hostile input', () => {
  const expectRefused = (res: { status: number; body: Record<string, unknown> }, status: number, code: string, message?: RegExp) => {
    expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
    if (message) expect(String(res.body.message)).toMatch(message);
  };
  /** A multipart body by hand, to control what FormData would not let us (order, case, field counts). */
  const rawForm = (parts: string[], boundary = 'B') =>
    Buffer.from(`${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('')}--${boundary}--\r\n`, 'latin1');
  const filePart = (name: string, data: Buffer) =>
    `Content-Disposition: form-data; name="${name}"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n${data.toString('latin1')}`;
  const fieldPart = (name: string, value: string) => `Content-Disposition: form-data; name="${name}"\r\n\r\n${value}`;
  const sendForm = (body: Buffer, contentType = 'multipart/form-data; boundary=B') =>
    call('POST', '/predict', { body: new Uint8Array(body), headers: { 'Content-Type': contentType } });

  it('a multipart body cut off before its closing boundary costs its own request, not the service', async () => {
    const truncated = '--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\nabc';
    for (let i = 0; i < 3; i++) {
      const res = await call('POST', '/predict', { body: truncated, headers: { 'Content-Type': 'multipart/form-data; boundary=B' } });
      expect(res.status).toBe(400);
    }
    await new Promise((r) => setTimeout(r, 200));
    const health = await call('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.uptimeSeconds).toBeGreaterThanOrEqual(1);
  });

  it('deeply nested JSON is refused with 400 and is not parsed on the HTTP thread first', async () => {
    // Prepare
    const nested = '['.repeat(4_000_000);
    const timed = async (body: string, type: string) => {
      const started = performance.now();
      const res = await call('POST', '/predict', { body, headers: { 'Content-Type': type } });
      return { res, ms: performance.now() - started };
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
    // Act: the same bytes as text/plain (refused 415 unread) are the cost of receiving them at all.
    const json: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < 5; i++) {
      const j = await timed(nested, 'application/json');
      expectRefused(j.res, 400, 'BAD_REQUEST', /nested deeper than 32 levels/);
      json.push(j.ms);
      const p = await timed(nested, 'text/plain');
      expect(p.res.status).toBe(415);
      plain.push(p.ms);
    }
    const tooBig = await call('POST', '/predict', { body: '['.repeat(5_000_000), headers: { 'Content-Type': 'application/json' } });
    // Assess: serverless-offline's JSON.parse of the 4 MB, then ours, added about 0.5 s per request on this machine.
    expect(median(json) - median(plain)).toBeLessThan(200);
    expectRefused(tooBig, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('matches media types case-insensitively: IMAGE/JPEG and Multipart/Form-Data arrive intact', async () => {
    // Prepare
    const bytes = photo('goldfish.jpg');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // Act
    const raw = await call('POST', '/predict', { body: new Uint8Array(bytes), headers: { 'Content-Type': 'IMAGE/JPEG' } });
    const form = await sendForm(rawForm([filePart('file', bytes), fieldPart('topK', '2')], 'XyZ'), 'Multipart/Form-Data; boundary=XyZ');
    // Assess
    expect({ status: raw.status, sha256: raw.body.image?.sha256 }).toEqual({ status: 200, sha256 });
    expect({ status: form.status, sha256: form.body.image?.sha256, k: form.body.predictions?.length }).toEqual({ status: 200, sha256, k: 2 });
  });

  it('refuses a truncated JPEG that still ends with FFD9, and a tiny one claiming 6000×6000 (400 INVALID_IMAGE)', async () => {
    // Prepare: cut out the middle of a real photo; shrink one to 8×8 and rewrite its SOF0 to say 6000×6000.
    const jpeg = photo('rocket.jpg');
    const cut = Buffer.concat([jpeg.subarray(0, Math.floor(jpeg.length * 0.4)), jpeg.subarray(Math.floor(jpeg.length * 0.8))]);
    const liar = await sharp(jpeg).resize(8, 8).jpeg({ quality: 50 }).toBuffer();
    const sof = liar.indexOf(Buffer.from([0xff, 0xc0]));
    liar.writeUInt16BE(6000, sof + 5);
    liar.writeUInt16BE(6000, sof + 7);
    // Act
    const results = [];
    for (const body of [cut, liar])
      results.push(await call('POST', '/predict', { body: new Uint8Array(body), headers: { 'Content-Type': 'image/jpeg' } }));
    // Assess
    expect(cut.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
    expect((await sharp(liar).metadata()).width).toBe(6000);
    for (const res of results) expectRefused(res, 400, 'INVALID_IMAGE');
  });

  it('refuses form fields instead of dropping them: a late topK, 10,000 fields, unknown fields, the wrong file field', async () => {
    // Prepare
    const img = filePart('file', photo('goldfish.jpg'));
    const many = rawForm([img, ...Array.from({ length: 10_000 }, (_, i) => fieldPart(`f${i}`, 'x'))]);
    // Act
    const late = await sendForm(rawForm([img, fieldPart('model', DEFAULT), fieldPart('topK', '1'), fieldPart('topK', '3')]));
    const started = performance.now();
    const flood = await sendForm(many);
    const floodMs = performance.now() - started;
    const unknown = await sendForm(rawForm([img, fieldPart('top_k', '3')]));
    const long = await sendForm(rawForm([img, fieldPart('model', 'm'.repeat(2000))]));
    const misnamed = await sendForm(rawForm([filePart('image', photo('goldfish.jpg'))]));
    // Assess
    expectRefused(late, 400, 'BAD_REQUEST', /at most 2 form fields|more than once/);
    expectRefused(flood, 400, 'BAD_REQUEST', /unknown form field "f0"/);
    expect(floodMs).toBeLessThan(1000);
    expectRefused(unknown, 400, 'BAD_REQUEST', /unknown form field "top_k"/);
    expectRefused(long, 400, 'BAD_REQUEST', /over the limit of 1024 bytes/);
    expectRefused(misnamed, 400, 'BAD_REQUEST', /form field "file"/);
  });

  it('never allows credentials or echoes a foreign Origin, on preflights or responses', async () => {
    // Prepare
    const origin = { Origin: 'https://evil.example' };
    // Act
    const preflight = await call('OPTIONS', '/predict', {
      headers: { ...origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-api-key' },
    });
    const health = await call('GET', '/health', { headers: origin });
    const refused = await call('POST', '/predict', { body: 'x', headers: { ...origin, 'Content-Type': 'text/plain' } });
    // Assess
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(health.status).toBe(200);
    expect(refused.status).toBe(415);
    for (const res of [preflight, health, refused]) {
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
    }
  });

  it("the stack's local S3 refuses unsigned requests, as S3 does", async () => {
    // Act
    const s3 = `http://127.0.0.1:${process.env.S3_PORT}/image-classifier-local`;
    const put = await fetch(`${s3}/uploads/anonymous/a.jpg`, { method: 'PUT', body: 'x' });
    const list = await fetch(`${s3}?list-type=2`);
    // Assess
    for (const res of [put, list]) {
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('<Code>AccessDenied</Code>');
    }
  });
});
