// The AWS CLI as an operator runs it (Debian's `awscli` 2.9, which speaks SQS's query protocol) against the local
// stack's S3 and SQS, beside @aws-sdk/client-sqs (the JSON protocol), so both protocols are shown to agree.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { localCredentials } from '../../src/handlers/deps/local-credentials';
import { EXPECTED_TOP5 } from '../../src/tools/bench/reference-top5';
import { photoPath } from '../fixtures/paths';
import { API, authHeaders, waitForJob } from './helpers';

const run = promisify(execFile);
const bucket = 'image-classifier-local';
const { credentials } = localCredentials();
const s3Endpoint = `http://127.0.0.1:${process.env.S3_PORT}`;
const sqsEndpoint = `http://127.0.0.1:${process.env.SQS_PORT}`;
const queueUrl = (name: string) => `${sqsEndpoint}/000000000000/${name}`;
const queueArn = (name: string) => `arn:aws:sqs:us-east-1:000000000000:${name}`;
const sqs = new SQSClient({ endpoint: sqsEndpoint, region: 'us-east-1', credentials });
const scratch = mkdtempSync(path.join(os.tmpdir(), 'aws-cli-it-'));

/**
 * AWS_CLI, else Debian's /usr/bin/aws (what `apt-get install awscli` puts there, and the one that speaks SQS's query
 * protocol), else `aws` on the PATH.
 */
function findCli(): string | undefined {
  if (process.env.AWS_CLI) return existsSync(process.env.AWS_CLI) ? process.env.AWS_CLI : undefined;
  if (existsSync('/usr/bin/aws')) return '/usr/bin/aws';
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'aws'))) return path.join(dir, 'aws');
  }
  return undefined;
}
const cli = findCli();

// Only what the CLI needs, so a developer's profile, region or pager cannot change what it sends.
const cliEnv = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: scratch,
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_REGION: 'us-east-1',
  AWS_CONFIG_FILE: path.join(scratch, 'no-config'),
  AWS_SHARED_CREDENTIALS_FILE: path.join(scratch, 'no-credentials'),
  AWS_PAGER: '',
  AWS_EC2_METADATA_DISABLED: 'true',
};

interface CliFailure {
  code: number;
  stderr: string;
}

/** Runs `aws <args>` against `endpoint`; resolves with what it printed. */
async function awsOutput(endpoint: string, args: string[]): Promise<string> {
  if (!cli) throw new Error('the AWS CLI is not installed: apt-get install awscli');
  try {
    return (await run(cli, ['--endpoint-url', endpoint, '--output', 'json', ...args], { env: cliEnv, maxBuffer: 16 * 1024 * 1024 })).stdout;
  } catch (err: unknown) {
    const e = err as { code?: number; stderr?: string };
    throw new Error(`aws ${args.join(' ')} failed (exit ${e.code}): ${e.stderr ?? String(err)}`);
  }
}

/** Runs an API command (`aws sqs …`, `aws s3api …`); resolves with its JSON output, undefined when it prints none. */
async function aws(endpoint: string, args: string[]): Promise<any> {
  const stdout = await awsOutput(endpoint, args);
  return stdout.trim() === '' ? undefined : JSON.parse(stdout);
}

/** Runs `aws <args>`, which must fail; resolves with its exit code and error output. */
async function awsFails(endpoint: string, args: string[]): Promise<CliFailure> {
  if (!cli) throw new Error('the AWS CLI is not installed: apt-get install awscli');
  try {
    await run(cli, ['--endpoint-url', endpoint, '--output', 'json', ...args], { env: cliEnv });
  } catch (err: unknown) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, stderr: e.stderr ?? '' };
  }
  throw new Error(`aws ${args.join(' ')} succeeded, but should have failed`);
}

const awsSqs = (...args: string[]) => aws(sqsEndpoint, ['sqs', ...args]);
const s3api = (...args: string[]) => aws(s3Endpoint, ['s3api', ...args]);
/** The high-level `aws s3 …` commands, which print lines of text, not JSON. */
const s3 = (...args: string[]) => awsOutput(s3Endpoint, ['s3', ...args]);

const md5 = (data: string | Buffer) => createHash('md5').update(data).digest('hex');

/**
 * MD5OfMessageAttributes as SQS documents it, written out here rather than taken from the emulator: names sorted,
 * then per attribute the 4-byte big-endian length and bytes of name and data type, transport byte 1 (String,
 * Number) or 2 (Binary), and the length and bytes of the value.
 */
function documentedAttributesMd5(attributes: Record<string, { DataType: string; StringValue?: string; BinaryValue?: Buffer }>): string {
  const prefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const parts: Buffer[] = [];
  for (const name of Object.keys(attributes).sort()) {
    const a = attributes[name];
    if (!a) continue;
    parts.push(prefixed(Buffer.from(name)), prefixed(Buffer.from(a.DataType)));
    parts.push(
      a.BinaryValue
        ? Buffer.concat([Buffer.from([2]), prefixed(a.BinaryValue)])
        : Buffer.concat([Buffer.from([1]), prefixed(Buffer.from(a.StringValue ?? ''))]),
    );
  }
  return md5(Buffer.concat(parts));
}

beforeAll(async () => {
  // Fail, never skip: a machine without the CLI must not pass these tests by not running them.
  if (!cli)
    throw new Error(
      `the AWS CLI is not installed${process.env.AWS_CLI ? ` at AWS_CLI=${process.env.AWS_CLI}` : ''} (the aws-cli tests need it): apt-get install awscli`,
    );
  const { stdout, stderr } = await run(cli, ['--version'], { env: cliEnv });
  console.log(`aws-cli tests use ${cli}: ${(stdout || stderr).trim()}`);
});

afterAll(() => {
  sqs.destroy();
  rmSync(scratch, { recursive: true, force: true });
});

describe('AWS CLI against the local SQS (query protocol), beside the SDK (JSON protocol)', () => {
  const own = `cli-${Date.now()}`;
  const ownUrl = queueUrl(own);
  const counts = async (url: string) => {
    const res = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    return { visible: Number(res.Attributes?.ApproximateNumberOfMessages), inFlight: Number(res.Attributes?.ApproximateNumberOfMessagesNotVisible) };
  };

  beforeAll(async () => {
    const created = await awsSqs('create-queue', '--queue-name', own, '--attributes', 'VisibilityTimeout=30');
    expect(created).toEqual({ QueueUrl: ownUrl });
  });

  afterAll(async () => {
    await awsSqs('delete-queue', '--queue-url', ownUrl).catch(() => undefined);
  });

  it("lists the stack's queues, resolves their URLs and reads the work queue's attributes, redrive policy included", async () => {
    // Act
    const listed = await awsSqs('list-queues');
    const byName = await awsSqs('get-queue-url', '--queue-name', 'infer-dlq');
    const attributes = (await awsSqs('get-queue-attributes', '--queue-url', queueUrl('infer-queue'), '--attribute-names', 'All')).Attributes;
    const sources = await awsSqs('list-dead-letter-source-queues', '--queue-url', queueUrl('infer-dlq'));
    const missing = await awsFails(sqsEndpoint, ['sqs', 'get-queue-url', '--queue-name', 'no-such-queue']);

    // Assess
    expect(listed.QueueUrls).toEqual(expect.arrayContaining([queueUrl('infer-queue'), queueUrl('infer-dlq'), ownUrl]));
    expect(byName).toEqual({ QueueUrl: queueUrl('infer-dlq') });
    expect(attributes).toMatchObject({
      QueueArn: queueArn('infer-queue'),
      VisibilityTimeout: process.env.LOCAL_VISIBILITY_TIMEOUT ?? '60',
      ApproximateNumberOfMessages: expect.stringMatching(/^\d+$/),
      ApproximateNumberOfMessagesNotVisible: expect.stringMatching(/^\d+$/),
    });
    expect(JSON.parse(attributes.RedrivePolicy)).toEqual({ deadLetterTargetArn: queueArn('infer-dlq'), maxReceiveCount: 3 });
    expect(sources).toEqual({ queueUrls: [queueUrl('infer-queue')] });
    // The CLI maps the query error code to SQS's modelled exception.
    expect(missing.code).toBe(254);
    expect(missing.stderr).toMatch(
      /\(AWS\.SimpleQueueService\.NonExistentQueue\) when calling the GetQueueUrl operation: The specified queue does not exist\./,
    );
  });

  it('a message sent with the CLI reaches the SDK with its body and attributes, and one sent with the SDK reaches the CLI; MD5s match the documented ones', async () => {
    // Prepare: a body with what XML and form encodings must both carry (markup, an ampersand, CRLF, non-ASCII).
    const body = `{"note": "<cli> & sdk"}\r\nhéllo 🚀 ${randomBytes(4).toString('hex')}`;
    const attributes = {
      model: { DataType: 'String', StringValue: 'mobilenetv2-int8' },
      attempt: { DataType: 'Number', StringValue: '2' },
      blob: { DataType: 'Binary', BinaryValue: Buffer.from([0, 1, 2, 255]) },
    };
    const cliAttributes = JSON.stringify({
      ...attributes,
      blob: { DataType: 'Binary', BinaryValue: attributes.blob.BinaryValue.toString('base64') },
    });

    // Act: CLI → SDK. The SDK's middleware checks the body MD5 and throws on a mismatch.
    const sent = await awsSqs('send-message', '--queue-url', ownUrl, '--message-body', body, '--message-attributes', cliAttributes);
    const bySdk = (
      await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: ownUrl, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'], WaitTimeSeconds: 5 }),
      )
    ).Messages?.[0];
    await sqs.send(new DeleteMessageCommand({ QueueUrl: ownUrl, ReceiptHandle: bySdk?.ReceiptHandle }));
    // SDK → CLI
    const fromSdk = await sqs.send(new SendMessageCommand({ QueueUrl: ownUrl, MessageBody: body, MessageAttributes: attributes }));
    const received = await awsSqs(
      'receive-message',
      '--queue-url',
      ownUrl,
      '--attribute-names',
      'All',
      '--message-attribute-names',
      'All',
      '--wait-time-seconds',
      '5',
      '--visibility-timeout',
      '30',
    );
    const [byCli, ...more] = received.Messages;
    const inFlight = await counts(ownUrl);
    await awsSqs('delete-message', '--queue-url', ownUrl, '--receipt-handle', byCli.ReceiptHandle);
    const afterDelete = await counts(ownUrl);

    // Assess
    const attributesMd5 = documentedAttributesMd5(attributes);
    expect(sent).toEqual({ MessageId: expect.any(String), MD5OfMessageBody: md5(body), MD5OfMessageAttributes: attributesMd5 });
    expect(bySdk?.MessageId).toBe(sent.MessageId);
    expect(bySdk?.Body).toBe(body);
    expect(bySdk?.MD5OfMessageAttributes).toBe(attributesMd5);
    expect(bySdk?.MessageAttributes).toEqual({
      ...attributes,
      blob: { DataType: 'Binary', BinaryValue: new Uint8Array(attributes.blob.BinaryValue) },
    });
    expect(bySdk?.Attributes?.SenderId).toBe(credentials.accessKeyId);
    expect(more).toEqual([]);
    expect(byCli).toMatchObject({ MessageId: fromSdk.MessageId, Body: body, MD5OfBody: md5(body), MD5OfMessageAttributes: attributesMd5 });
    expect(fromSdk.MD5OfMessageAttributes).toBe(attributesMd5);
    expect(byCli.MessageAttributes).toEqual({
      ...attributes,
      blob: { DataType: 'Binary', BinaryValue: attributes.blob.BinaryValue.toString('base64') },
    });
    expect(byCli.Attributes).toMatchObject({
      ApproximateReceiveCount: '1',
      SenderId: credentials.accessKeyId,
      SentTimestamp: expect.stringMatching(/^\d{13}$/),
    });
    expect(inFlight).toEqual({ visible: 0, inFlight: 1 });
    expect(afterDelete).toEqual({ visible: 0, inFlight: 0 });
  });

  it('batch sends, visibility changes and batch deletes agree across the two protocols; purge-queue empties a queue', async () => {
    // Act: three messages by CLI batch (one of them refused), received by the SDK, one released by the CLI.
    const batch = await awsSqs(
      'send-message-batch',
      '--queue-url',
      ownUrl,
      '--entries',
      JSON.stringify([
        { Id: 'a', MessageBody: 'batch a' },
        { Id: 'b', MessageBody: 'batch b', MessageAttributes: { n: { DataType: 'Number', StringValue: '7' } } },
        { Id: 'c', MessageBody: 'batch c', DelaySeconds: 901 },
      ]),
    );
    const first = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: ownUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }))).Messages ?? [];
    const released = first.find((m) => m.Body === 'batch a');
    await awsSqs('change-message-visibility', '--queue-url', ownUrl, '--receipt-handle', released?.ReceiptHandle ?? '', '--visibility-timeout', '0');
    const again =
      (
        await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: ownUrl,
            MaxNumberOfMessages: 10,
            VisibilityTimeout: 0,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
        )
      ).Messages ?? [];
    const stillHidden = first.find((m) => m.Body === 'batch b');
    const releasedBatch = await awsSqs(
      'change-message-visibility-batch',
      '--queue-url',
      ownUrl,
      '--entries',
      JSON.stringify([
        { Id: 'b', ReceiptHandle: stillHidden?.ReceiptHandle, VisibilityTimeout: 0 },
        { Id: 'bogus', ReceiptHandle: 'not-a-handle', VisibilityTimeout: 0 },
      ]),
    );
    const all = await awsSqs('receive-message', '--queue-url', ownUrl, '--max-number-of-messages', '10', '--visibility-timeout', '30');
    const deleted = await awsSqs(
      'delete-message-batch',
      '--queue-url',
      ownUrl,
      '--entries',
      JSON.stringify(all.Messages.map((m: { ReceiptHandle: string }, i: number) => ({ Id: `m${i}`, ReceiptHandle: m.ReceiptHandle }))),
    );
    const afterDelete = await counts(ownUrl);
    await sqs.send(new SendMessageCommand({ QueueUrl: ownUrl, MessageBody: 'to purge 1' }));
    await awsSqs('send-message', '--queue-url', ownUrl, '--message-body', 'to purge 2');
    const beforePurge = await counts(ownUrl);
    const purged = await awsSqs('purge-queue', '--queue-url', ownUrl);
    const afterPurge = await counts(ownUrl);

    // Assess
    expect(batch.Successful.map((e: { Id: string }) => e.Id).sort()).toEqual(['a', 'b']);
    expect(batch.Successful.find((e: { Id: string }) => e.Id === 'a')).toMatchObject({ MD5OfMessageBody: md5('batch a') });
    expect(batch.Successful.find((e: { Id: string }) => e.Id === 'b')).toMatchObject({
      MD5OfMessageAttributes: documentedAttributesMd5({ n: { DataType: 'Number', StringValue: '7' } }),
    });
    expect(batch.Failed).toEqual([{ Id: 'c', SenderFault: true, Code: 'InvalidParameterValue', Message: expect.stringContaining('DelaySeconds') }]);
    expect(first.map((m) => m.Body).sort()).toEqual(['batch a', 'batch b']);
    expect(again.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([['batch a', '2']]);
    expect(releasedBatch.Successful).toEqual([{ Id: 'b' }]);
    expect(releasedBatch.Failed).toEqual([{ Id: 'bogus', SenderFault: true, Code: 'ReceiptHandleIsInvalid', Message: expect.any(String) }]);
    expect(all.Messages.map((m: { Body: string }) => m.Body).sort()).toEqual(['batch a', 'batch b']);
    expect(deleted.Successful.map((e: { Id: string }) => e.Id).sort()).toEqual(['m0', 'm1']);
    expect(afterDelete).toEqual({ visible: 0, inFlight: 0 });
    expect(beforePurge).toEqual({ visible: 2, inFlight: 0 });
    expect(purged).toBeUndefined();
    expect(afterPurge).toEqual({ visible: 0, inFlight: 0 });
  });

  it("an operator finds a poison message in the stack's DLQ with the CLI, reads its body and origin, deletes it and leaves the rest as it was", async () => {
    // Prepare: a message no worker can handle, sent by the CLI to the work queue; after maxReceiveCount failed
    // deliveries the queue's redrive policy moves it to infer-dlq.
    const poison = JSON.stringify({ 'not a work item': randomBytes(8).toString('hex') });
    const sent = await aws(sqsEndpoint, ['sqs', 'send-message', '--queue-url', queueUrl('infer-queue'), '--message-body', poison]);

    // Act: receive from the DLQ as an operator would, holding what is not ours until ours turns up.
    const others = new Map<string, string>();
    let found: { MessageId: string; ReceiptHandle: string; Body: string; MD5OfBody: string; Attributes: Record<string, string> } | undefined;
    const deadline = Date.now() + 120_000;
    while (!found && Date.now() < deadline) {
      const res = await awsSqs(
        'receive-message',
        '--queue-url',
        queueUrl('infer-dlq'),
        '--attribute-names',
        'All',
        '--max-number-of-messages',
        '10',
        '--visibility-timeout',
        '60',
        '--wait-time-seconds',
        '10',
      );
      for (const m of res?.Messages ?? []) {
        if (m.MessageId === sent.MessageId) found = m;
        else others.set(m.MessageId, m.ReceiptHandle);
      }
    }
    if (found) await awsSqs('delete-message', '--queue-url', queueUrl('infer-dlq'), '--receipt-handle', found.ReceiptHandle);
    // Everything else goes back as it was, visible at once, as `npm run dlq -- list` leaves it.
    const handles = [...others.values()];
    for (let i = 0; i < handles.length; i += 10) {
      const entries = handles.slice(i, i + 10).map((h, j) => ({ Id: `m${i + j}`, ReceiptHandle: h, VisibilityTimeout: 0 }));
      const res = await awsSqs('change-message-visibility-batch', '--queue-url', queueUrl('infer-dlq'), '--entries', JSON.stringify(entries));
      expect(res.Failed ?? []).toEqual([]);
    }
    const again = await awsFails(sqsEndpoint, ['sqs', 'delete-message', '--queue-url', queueUrl('infer-dlq'), '--receipt-handle', 'garbage']);

    // Assess
    expect(found).toMatchObject({ Body: poison, MD5OfBody: md5(poison), Attributes: { DeadLetterQueueSourceArn: queueArn('infer-queue') } });
    expect(Number(found?.Attributes.ApproximateReceiveCount)).toBeGreaterThanOrEqual(3);
    expect(again.stderr).toMatch(/\(ReceiptHandleIsInvalid\) when calling the DeleteMessage operation/);
  });
});

describe('AWS CLI against the local S3', () => {
  it('cp and sync of real photos into uploads/<job>/ run the job to done; ls and head-object see what was stored', async () => {
    // Prepare: one photo on its own, two more in a folder to sync.
    const jobId = `cli-${Date.now()}`;
    const prefix = `s3://${bucket}/uploads/${jobId}/`;
    const folder = path.join(scratch, 'album');
    mkdirSync(folder);
    for (const name of ['pelican.jpeg', 'orange.png']) writeFileSync(path.join(folder, name), readFileSync(photoPath(name)));

    // Act
    const copied = await s3('cp', '--no-progress', photoPath('goldfish.jpg'), `${prefix}goldfish.jpg`);
    const synced = await s3('sync', '--no-progress', folder, `${prefix}album/`);
    const head = await s3api('head-object', '--bucket', bucket, '--key', `uploads/${jobId}/goldfish.jpg`);
    const listing = await s3('ls', '--recursive', prefix);
    const resynced = await s3('sync', '--no-progress', folder, `${prefix}album/`);
    const job = await waitForJob(jobId, (b) => b.counts.done + b.counts.failed === 3);
    const res = await fetch(`${API()}/jobs/${jobId}/results?format=jsonl`, { headers: authHeaders() });
    const results = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; predictions?: Array<{ index: number }> });

    // Assess
    const goldfish = readFileSync(photoPath('goldfish.jpg'));
    expect(head).toMatchObject({ ContentLength: goldfish.length, ETag: `"${md5(goldfish)}"` });
    const listed = listing
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/).slice(2));
    expect(listed).toEqual([
      [String(readFileSync(photoPath('orange.png')).length), `uploads/${jobId}/album/orange.png`],
      [String(readFileSync(photoPath('pelican.jpeg')).length), `uploads/${jobId}/album/pelican.jpeg`],
      [String(goldfish.length), `uploads/${jobId}/goldfish.jpg`],
    ]);
    // The CLI names local files relative to the working directory.
    expect(copied.trim()).toMatch(new RegExp(`^upload: \\S*goldfish\\.jpg to ${prefix}goldfish\\.jpg$`));
    expect(
      synced
        .trim()
        .split('\n')
        .map((line) => line.replace(/^upload: \S*\/album\//, 'upload: album/'))
        .sort(),
    ).toEqual([`upload: album/orange.png to ${prefix}album/orange.png`, `upload: album/pelican.jpeg to ${prefix}album/pelican.jpeg`]);
    // A second sync finds the same sizes and times and uploads nothing.
    expect(resynced.trim()).toBe('');
    expect(job).toMatchObject({ status: 'done', counts: { expected: 3, ingested: 3, done: 3, failed: 0 } });
    expect(res.status).toBe(200);
    const top1 = Object.fromEntries(results.map((r) => [r.key.split('/').pop(), r.predictions?.[0]?.index]));
    const expected = (name: string) => EXPECTED_TOP5['mobilenetv2-int8']?.[name]?.[0]?.index;
    expect(top1).toEqual({
      'goldfish.jpg': expected('goldfish.jpg'),
      'pelican.jpeg': expected('pelican.jpeg'),
      'orange.png': expected('orange.png'),
    });
  });

  it('a file over the multipart threshold (8 MB) goes up in parts and comes back byte for byte; rm removes it', async () => {
    // Prepare: 12 MiB, two parts at the CLI's 8 MiB chunk size. Outside uploads/, so no job ingests it.
    const key = `cli-scratch/${Date.now()}/big.bin`;
    const original = randomBytes(12 * 1024 * 1024);
    const file = path.join(scratch, 'big.bin');
    writeFileSync(file, original);

    // Act
    await s3('cp', '--no-progress', file, `s3://${bucket}/${key}`);
    const head = await s3api('head-object', '--bucket', bucket, '--key', key);
    const back = path.join(scratch, 'back.bin');
    await s3('cp', '--no-progress', `s3://${bucket}/${key}`, back);
    const removed = await s3('rm', `s3://${bucket}/${key}`);
    const gone = await awsFails(s3Endpoint, ['s3api', 'head-object', '--bucket', bucket, '--key', key]);

    // Assess
    expect(head.ContentLength).toBe(original.length);
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
    expect(md5(readFileSync(back))).toBe(md5(original));
    expect(removed).toContain(`delete: s3://${bucket}/${key}`);
    expect(gone.stderr).toMatch(/\(404\) when calling the HeadObject operation: Not Found/);
  });
});
