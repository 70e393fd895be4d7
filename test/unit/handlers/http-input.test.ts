import type { APIGatewayProxyEvent } from 'aws-lambda';
import { checkJsonDepth, MAX_JSON_DEPTH, readImages, readJsonObject } from '../../../src/handlers/middleware/http-input';

const limits = { maxBodyBytes: 4_500_000, maxImageBytes: 4 * 1024 * 1024, maxBatchImages: 16 };
const event = (body: string | Buffer, contentType: string) =>
  ({
    headers: { 'Content-Type': contentType },
    body: Buffer.from(body).toString('base64'),
    isBase64Encoded: true,
  }) as unknown as APIGatewayProxyEvent;
const jsonEvent = (body: string) =>
  ({ headers: { 'content-type': 'application/json' }, body, isBase64Encoded: false }) as unknown as APIGatewayProxyEvent;

type Part = { name: string; value: string } | { name: string; filename: string; data: Buffer };
const form = (parts: Part[], boundary = 'B') =>
  Buffer.concat([
    ...parts.map((p) =>
      'filename' in p
        ? Buffer.concat([
            Buffer.from(
              `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\nContent-Type: image/jpeg\r\n\r\n`,
            ),
            p.data,
            Buffer.from('\r\n'),
          ])
        : Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"\r\n\r\n${p.value}\r\n`),
    ),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
const image = { name: 'file', filename: 'a.jpg', data: Buffer.from([0xff, 0xd8, 0xff, 0xd9]) };
const multipart = (parts: Part[], batch = false) => readImages(event(form(parts), 'multipart/form-data; boundary=B'), limits, batch);

describe('readImages, multipart', () => {
  it('answers a body cut off before its closing boundary with 400, and nothing escapes as an unhandled error', async () => {
    const escaped: unknown[] = [];
    const onUncaught = (err: unknown) => escaped.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const truncated = '--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\nabc';
      await expect(readImages(event(truncated, 'multipart/form-data; boundary=B'), limits, false)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      // The file stream's own error arrives on a later tick: give it the chance to escape.
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(escaped).toEqual([]);
  });

  it('refuses a form busboy never finishes (no close, no error) instead of hanging', async () => {
    // Found by the fuzzer (test/unit/fuzz/http-input.test.ts, FUZZ_SEED=-166186037): a mutated body on which busboy
    // 1.6 begins a second file part and then waits forever.
    const body = Buffer.from(
      'LS0nJy0tYV9fMDU6LC4NCkNvbnRlbnQtRGlzcG9zaXRpb246IGZvcm0tZGF0YTsgbmFtZT0idG9wSyINCg0KMTUNCi0tJyctLWFfXzA1OiwuDQ' +
        'pDb250ZW50LURpc3Bvc2l0aW9uOiBmb3JtLWRhdGE7IG5hbWU9Im1vZGVsIg0KDQptb2JpbGVuZXQtdjEtMC43NS1mcDMyDQotLScnLS1hX18w' +
        'NTosLg0KQ29udGVudC1EaXNwb3NpdGlvbjogZm9ybS1kYXRhOyBuYW1lPSJmaWxlIjsgZmlsZW5hbWU9ImEuanBnIg0KQ29udGVudC1UeXBlOi' +
        'BpbWFnZS9qcGVnDQoNCv/Y/9sAQwAGBAUGBQQGBgUGBwcGCAoQCgoJCQoUDg8MEBcUGBgXFBYWGh0lHxobIxwWFiAsICMmJykqKRkfLTAtKDAl' +
        'KCko/9sAQwEHBwcKCAoTCgoTKBoWGigoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo/8AAEQgAGAAgAw' +
        'EiAAIRAQMRAf/EABUAAQEAAAAAAAAAAAAAAAAAAAAF/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/EABYBAQEBAAAAAAAAAAAAAAAAAAADBv/EABQR' +
        'AQAAAAAAAAAAAAAAAAAAAAD/2gAMX9hLldwDEQA/AJQCDOAAAAAAP//ZDQotLScnLS1hX18wNTosLi0tDQpwb3NpdGlvbjogZm9ybS1kYXRhOy' +
        'BuYW1lPSJ0b3BLIg0KDQoxNQ0KLS0nJy0tYV9fMDU6LC4NCkNvbnRlbnQtRGlzcG9zaXRpb246IGZvcm0tZGF0YTsgbmFtZT0ibW9kZWwiDQoN' +
        'Cm1vYmlsZW5ldC12MS0wLjc1LWZwMzINCi0tJyctLWFfXzA1OiwuDQpDb250ZW50LURpc3Bvc2l0aW9uOiBmb3JtLWRhdGE7IG5hbWU9ImZpbG' +
        'UiOyBmaWxlbmFtZT0iYS5qcGciDQpDb250ZW50LVR5cGU6IGltYWdlL2pwZWcNCg0K/9j/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQ' +
        'FxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKC' +
        'goKCgoKCgoKCgoKCgoKCgoKCgoKCgoKA==',
      'base64',
    );
    const verdict = readImages(event(body, `multipart/form-data; boundary="''--a__05:,."`), limits, true);
    const timeout = new Promise((r) => setTimeout(() => r('hung'), 2000));
    await expect(Promise.race([verdict, timeout])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('reads the image and the model and topK fields, whatever their order', async () => {
    const input = await multipart([{ name: 'topK', value: '3' }, image, { name: 'model', value: 'm' }]);
    expect(input.fields).toEqual({ topK: '3', model: 'm' });
    expect(input.images).toEqual([image.data]);
  });

  it('refuses a field past the limit instead of dropping it: a late topK cannot go unheard', async () => {
    const parts: Part[] = [image, { name: 'model', value: 'm' }, { name: 'topK', value: '3' }, { name: 'topK', value: '1' }];
    await expect(multipart(parts)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/at most 2 form fields/) });
  });

  it('refuses a field sent twice, an unknown field and a value over 1,024 bytes, naming them', async () => {
    await expect(multipart([image, { name: 'topK', value: '3' }, { name: 'topK', value: '1' }])).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'form field "topK" is sent more than once',
    });
    await expect(multipart([image, { name: 'top_k', value: '3' }])).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'unknown form field "top_k"; the fields are model, topK',
    });
    await expect(multipart([image, { name: 'model', value: 'm'.repeat(1025) }])).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'form field "model" is over the limit of 1024 bytes',
    });
    await expect(multipart([image, { name: 'model', value: 'm'.repeat(1024) }])).resolves.toMatchObject({ fields: { model: 'm'.repeat(1024) } });
  });

  it('refuses 80,000 fields at the first one too many, without parsing the other 4 MB', async () => {
    const parts: Part[] = [image, ...Array.from({ length: 80_000 }, (_, i) => ({ name: 'topK', value: String(i % 10) }))];
    const body = form(parts);
    const started = performance.now();
    await expect(readImages(event(body, 'multipart/form-data; boundary=B'), limits, false)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    // busboy given the whole body went through every part: over a second here.
    expect(performance.now() - started).toBeLessThan(100);
    expect(body.length).toBeGreaterThan(3_500_000);
  });

  it('wants /predict`s image in the field "file"; a batch takes file parts of any name', async () => {
    const elsewhere = { ...image, name: 'image' };
    await expect(multipart([elsewhere])).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'the image goes in the form field "file", not "image"',
    });
    await expect(multipart([elsewhere, { ...image, name: 'files' }], true)).resolves.toMatchObject({ images: [image.data, image.data] });
  });

  it('matches media types case-insensitively, keeping the boundary as sent', async () => {
    const body = form([image], 'AbC');
    await expect(readImages(event(body, 'Multipart/Form-Data; boundary=AbC'), limits, false)).resolves.toMatchObject({ images: [image.data] });
    await expect(readImages(event(image.data, 'IMAGE/JPEG'), limits, false)).resolves.toMatchObject({ images: [image.data] });
  });
});

describe('readImages, JSON nesting', () => {
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const parse = jest.spyOn(JSON, 'parse');
  afterEach(() => parse.mockClear());
  afterAll(() => parse.mockRestore());

  it(`refuses JSON nested deeper than ${MAX_JSON_DEPTH} levels with 400, before JSON.parse sees it`, async () => {
    await expect(readImages(jsonEvent(nested(MAX_JSON_DEPTH + 1)), limits, false)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: `the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`,
    });
    await expect(readImages(jsonEvent('['.repeat(4_000_000)), limits, false)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(parse).not.toHaveBeenCalled();
  });

  it(`parses ${MAX_JSON_DEPTH} levels, then judges the shape`, async () => {
    await expect(readImages(jsonEvent(nested(MAX_JSON_DEPTH)), limits, false)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('must be an object'),
    });
    expect(parse).toHaveBeenCalledTimes(1);
  });

  it('counts no bracket inside a string, escaped quotes and backslashes included', () => {
    const deep = '['.repeat(MAX_JSON_DEPTH + 1);
    expect(() => checkJsonDepth(Buffer.from(`{"image":"${deep}"}`), MAX_JSON_DEPTH)).not.toThrow();
    // \" does not end the string: the brackets after it are still inside.
    expect(() => checkJsonDepth(Buffer.from(`{"image":"\\"${deep}"}`), MAX_JSON_DEPTH)).not.toThrow();
    // \\" is an escaped backslash, then the end of the string: the brackets after it count.
    expect(() => checkJsonDepth(Buffer.from(`{"image":"\\\\",${deep}`), MAX_JSON_DEPTH)).toThrow(/nested deeper/);
    expect(() => checkJsonDepth(Buffer.from(`{"a":"é[",${deep}`), MAX_JSON_DEPTH)).toThrow(/nested deeper/);
    // Depth goes back down: many shallow siblings are fine.
    expect(() =>
      checkJsonDepth(Buffer.from(`[${Array.from({ length: 1000 }, () => nested(MAX_JSON_DEPTH - 1)).join(',')}]`), MAX_JSON_DEPTH),
    ).not.toThrow();
  });
});

describe('readJsonObject (POST /jobs)', () => {
  const read = (body: string | null) =>
    readJsonObject({ headers: {}, body, isBase64Encoded: false } as unknown as APIGatewayProxyEvent, 1000, '{"count": 1}');

  it('reads an object, and an absent or empty body as {}', () => {
    expect(read('{"count": 2}')).toEqual({ count: 2 });
    expect(read(null)).toEqual({});
    expect(read('')).toEqual({});
  });

  it('refuses JSON that is not an object with 400, never a TypeError later', () => {
    for (const body of ['null', '[]', '5', '"x"', 'true', 'count=3']) {
      expect(() => read(body)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    }
  });

  it('refuses deep nesting and a body over its limit before parsing', () => {
    expect(() => read('['.repeat(500))).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => read(`{"pad": "${'p'.repeat(1000)}"}`)).toThrow(expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }));
  });
});
