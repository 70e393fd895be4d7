// The packaged service (npm run package → .serverless/) run the way Lambda runs it: each function's zip and layers
// in /var/task and /opt, Node 22, the template's environment, real API Gateway / S3 / SQS events, and the local S3
// and SQS for data. A module, file or setting that exists only in the checkout fails here.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { unzipSync } from 'fflate';
import { parseConfig } from '../../src/config';
import { EXPECTED_TOP5 } from '../../src/tools/bench/reference-top5';
import { postUpload, type UploadForm } from '../../src/tools/cli/upload';
import { apiEvent, type HttpRequest, multipartBody, s3Event, sqsEvent } from '../../src/tools/deploy/events';
import { LambdaSandbox, PAYLOAD_LIMIT_BYTES, type PackagedFunction, readPackage } from '../../src/tools/deploy/sandbox';
import { ROLE_CREDENTIALS, type SandboxAws, startSandboxAws } from '../../src/tools/deploy/sandbox-aws';
import { photoPath } from '../fixtures/paths';

jest.setTimeout(120_000);

const { functions } = readPackage();
const fn = (name: string): PackagedFunction => {
  const f = functions.find((x) => x.name === name);
  if (!f) throw new Error(`no function ${name} in the template`);
  return f;
};
const photo = (name: string) => readFileSync(photoPath(name));
const top1 = (name: string) => EXPECTED_TOP5['mobilenetv2-int8']?.[name]?.[0]?.label;
const bucket = String(fn('predict').environment.BUCKET_NAME);

let aws: SandboxAws;
const started = new Map<string, LambdaSandbox>();

/** One container per function for the whole file, as a warm Lambda would be. */
async function container(name: string): Promise<LambdaSandbox> {
  const known = started.get(name);
  if (known) return known;
  const sandbox = await LambdaSandbox.start(fn(name), aws.options);
  started.set(name, sandbox);
  return sandbox;
}

async function http(name: string, req: HttpRequest): Promise<{ status: number; headers: Record<string, string>; body: any }> {
  const sandbox = await container(name);
  const inv = await sandbox.invoke(apiEvent(req));
  if (inv.error) throw new Error(`${name} failed: ${JSON.stringify(inv.error)}\n${sandbox.logs()}`);
  const { statusCode, headers, body } = inv.result as { statusCode: number; headers: Record<string, string>; body: string };
  let parsed: unknown = body;
  try {
    parsed = JSON.parse(body);
  } catch {
    // text/csv, jsonl and Prometheus bodies stay strings
  }
  return { status: statusCode, headers, body: parsed };
}

beforeAll(async () => {
  aws = await startSandboxAws(bucket);
});

afterAll(async () => {
  await Promise.all([...started.values()].map((s) => s.stop()));
  await aws?.close();
});

describe('the package', () => {
  const needsEngine = (f: PackagedFunction) =>
    /require\("onnxruntime-node"\)/.test(
      Object.values(unzipSync(readFileSync(f.zip)))
        .map((d) => Buffer.from(d).toString('utf8'))
        .join(''),
    );

  it('gives each function one bundle, at its handler path, and no node_modules', () => {
    for (const f of functions) {
      const entries = Object.keys(unzipSync(readFileSync(f.zip)));
      expect({ name: f.name, entries }).toEqual({ name: f.name, entries: [`${f.handler.replace(/\.[^.]+$/, '')}.js`] });
    }
  });

  it('gives the inference layer to the functions that classify, and only to them', () => {
    const withInference = functions.filter((f) => f.layers.some((l) => path.basename(l) === 'inference.zip')).map((f) => f.name);
    expect(withInference.sort()).toEqual(['inferSqs', 'predict', 'predictBatch']);
    for (const f of functions) expect({ name: f.name, engine: needsEngine(f) }).toEqual({ name: f.name, engine: withInference.includes(f.name) });
  });

  it('builds layers that hold linux-x64 native modules and verified models, nothing else', () => {
    const inference = Object.keys(unzipSync(readFileSync(path.join(path.dirname(fn('predict').zip), 'inference.zip'))));
    expect(inference).toContain('nodejs/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node');
    expect(inference.filter((e) => /onnxruntime-node\/bin\/napi-v6\/(?!linux\/x64)/.test(e) && !e.endsWith('/'))).toEqual([]);
    expect(inference.some((e) => e.startsWith('nodejs/node_modules/@img/sharp-linux-x64/'))).toBe(true);
    const models = Object.keys(unzipSync(readFileSync(path.join(path.dirname(fn('predict').zip), 'modelFiles.zip'))));
    expect(models).toEqual(expect.arrayContaining(['models/mobilenetv2-int8/model.json', 'models/mobilenet-v1-0.75-fp32/model.json']));
  });
});

describe('the sandbox', () => {
  it('sees only the package: predict without its inference layer fails at init', async () => {
    const stripped = { ...fn('predict'), layers: fn('predict').layers.filter((l) => path.basename(l) !== 'inference.zip') };
    await expect(LambdaSandbox.start(stripped, { refs: { InferQueue: 'x', InferDeadLetterQueue: 'y' } })).rejects.toThrow(
      /Cannot find module 'onnxruntime-node'/,
    );
  });
});

describe('API Gateway events', () => {
  it('POST /predict classifies a photo sent raw, as multipart and as JSON', async () => {
    const png = photo('chelsea.png');
    const raw = await http('predict', {
      method: 'POST',
      resource: '/predict',
      headers: { 'Content-Type': 'image/png' },
      body: png,
      query: { topK: '3' },
    });
    expect(raw.status).toBe(200);
    expect(raw.body.predictions).toHaveLength(3);
    expect(raw.body.predictions[0].label).toBe(top1('chelsea.png'));
    expect(raw.body.image).toMatchObject({ format: 'png', bytes: png.length });

    const form = multipartBody([{ name: 'file', filename: 'goldfish.jpg', type: 'image/jpeg', data: photo('goldfish.jpg') }]);
    const multipart = await http('predict', { method: 'POST', resource: '/predict', headers: { 'Content-Type': form.contentType }, body: form.body });
    expect(multipart.status).toBe(200);
    expect(multipart.body.predictions[0].label).toBe(top1('goldfish.jpg'));

    const json = await http('predict', {
      method: 'POST',
      resource: '/predict',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ image: photo('pelican.jpeg').toString('base64'), model: 'mobilenet-v1-0.75-fp32' }),
    });
    expect(json.status).toBe(200);
    expect(json.body.model.name).toBe('mobilenet-v1-0.75-fp32');
    expect(json.body.predictions[0].label).toBe(EXPECTED_TOP5['mobilenet-v1-0.75-fp32']?.['pelican.jpeg']?.[0]?.label);
  });

  it('POST /predict/batch answers each image in order', async () => {
    const names = ['bald_eagle.jpeg', 'rocket.jpg', 'orange.png'];
    const form = multipartBody(
      names.map((n) => ({ name: 'files', filename: n, type: n.endsWith('.png') ? 'image/png' : 'image/jpeg', data: photo(n) })),
    );
    const res = await http('predictBatch', {
      method: 'POST',
      resource: '/predict/batch',
      headers: { 'Content-Type': form.contentType },
      body: form.body,
    });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { predictions: Array<{ label: string }> }) => r.predictions[0]?.label)).toEqual(names.map(top1));
  });

  it('GET /health and /models answer without loading a model; /metrics is for operators, none by default', async () => {
    const health = await http('health', { method: 'GET', resource: '/health', headers: { Origin: 'https://app.example.com' } });
    expect(health.status).toBe(200);
    // lambda-proxy: API Gateway adds no CORS headers to actual responses, the function must.
    expect(health.headers['Access-Control-Allow-Origin']).toBe('*');
    expect(health.headers['Access-Control-Allow-Credentials']).toBeUndefined();
    expect(health.body).toMatchObject({ status: 'ok', live: true, stage: 'prod' });
    const models = await http('models', { method: 'GET', resource: '/models' });
    expect(models.status).toBe(200);
    expect(models.body.models.map((m: { name: string }) => m.name).sort()).toEqual(['mobilenet-v1-0.75-fp32', 'mobilenetv2-int8']);
    // The template's OPERATOR_KEYS is the operatorKeyIds param, empty by default: a client's key reads no metrics.
    const metrics = await http('metrics', { method: 'GET', resource: '/metrics' });
    expect(metrics.status).toBe(403);
    expect(metrics.body).toMatchObject({ code: 'FORBIDDEN' });
  });

  it("trusts API Gateway's key check, and refuses a keyed route reached without a key id all the same", async () => {
    const keyless = await http('models', { method: 'GET', resource: '/models', apiKeyId: null });
    expect(keyless.status).toBe(401);
    expect(keyless.body).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(keyless.headers['WWW-Authenticate']).toMatch(/^ApiKey /);
    // The limits are the usage plan's, applied by API Gateway: the function states none.
    const keyed = await http('models', { method: 'GET', resource: '/models' });
    expect(keyed.status).toBe(200);
    expect(keyed.headers.RateLimit).toBeUndefined();
  });

  it('answers errors as JSON with the code, never a runtime error', async () => {
    const res = await http('predict', { method: 'POST', resource: '/predict', headers: { 'Content-Type': 'text/plain' }, body: 'hello' });
    expect(res.status).toBe(415);
    expect(res.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', requestId: expect.any(String) });
  });

  it('every body under the documented limit fits in a Lambda event, and the function refuses a larger one itself', async () => {
    const env = Object.fromEntries(Object.entries(fn('predict').environment).filter((e): e is [string, string] => typeof e[1] === 'string'));
    const limit = parseConfig(env).limits.maxBodyBytes;
    for (const type of ['image/jpeg', 'multipart/form-data; boundary=x', 'application/json']) {
      const atLimit = apiEvent({ method: 'POST', resource: '/predict', headers: { 'Content-Type': type }, body: 'A'.repeat(limit) });
      expect({ type, fits: Buffer.byteLength(JSON.stringify(atLimit)) < PAYLOAD_LIMIT_BYTES - 200_000 }).toEqual({ type, fits: true });
    }
    const over = await http('predict', {
      method: 'POST',
      resource: '/predict',
      headers: { 'Content-Type': 'image/jpeg' },
      body: new Uint8Array(limit + 1),
    });
    expect(over.status).toBe(413);
    expect(over.body).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/^the body is/) });
  });
});

describe('the batch path, event by event', () => {
  it('POST /jobs → presigned POST forms → S3 event → ingest → SQS batch → inferSqs → GET /jobs/{id} done with results', async () => {
    const names = ['chelsea.png', 'goldfish.jpg', 'rocket.jpg'];
    const created = await http('createJob', {
      method: 'POST',
      resource: '/jobs',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ names }),
    });
    expect(created.status).toBe(201);
    const { jobId, uploads } = created.body as { jobId: string; uploads: Array<UploadForm & { key: string }> };

    for (const [i, up] of uploads.entries()) {
      const name = names[i] as string;
      const put = await postUpload(up, new Uint8Array(photo(name)), name, 'image/jpeg');
      expect(put.status).toBe(204);
      const notified = await (await container('ingest')).invoke(
        s3Event(bucket, { key: up.key, size: photo(name).length, eTag: put.headers.get('etag') ?? '' }),
      );
      expect(notified.error).toBeUndefined();
    }

    const client = new SQSClient({ region: 'us-east-1', endpoint: aws.sqs.url, credentials: ROLE_CREDENTIALS });
    const messages: Message[] = [];
    for (let tries = 0; messages.length < names.length && tries < 10; tries++) {
      const got = await client.send(
        new ReceiveMessageCommand({ QueueUrl: aws.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'] }),
      );
      messages.push(...(got.Messages ?? []));
    }
    expect(messages).toHaveLength(names.length);
    const worked = await (await container('inferSqs')).invoke(sqsEvent(aws.queueArn, messages));
    expect(worked.error).toBeUndefined();
    expect(worked.result).toEqual({ batchItemFailures: [] });
    // What the event source mapping does with a batch that succeeded.
    await client.send(
      new DeleteMessageBatchCommand({ QueueUrl: aws.queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }),
    );

    const job = await http('getJob', { method: 'GET', resource: '/jobs/{jobId}', path: `/jobs/${jobId}`, pathParameters: { jobId } });
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ status: 'done', counts: { expected: 3, ingested: 3, done: 3, failed: 0 } });
    const download = await fetch(job.body.results.download.jsonl);
    expect(download.status).toBe(200);
    expect((await download.text()).trim().split('\n')).toHaveLength(3);

    const results = await http('getJobResults', {
      method: 'GET',
      resource: '/jobs/{jobId}/results',
      path: `/jobs/${jobId}/results`,
      pathParameters: { jobId },
      query: { format: 'jsonl' },
    });
    expect(results.status).toBe(200);
    const records = String(results.body)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; ok: boolean; predictions: Array<{ label: string }> });
    const byName = Object.fromEntries(records.map((r) => [path.basename(r.key), r.predictions[0]?.label]));
    expect(byName).toEqual(Object.fromEntries(names.map((n) => [n, top1(n)])));
  });
});
