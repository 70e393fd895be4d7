import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Event } from 'aws-lambda';
import type { LocalS3 } from '../../../../src/local/s3/server';
import { BUCKET, client, start, tempDir, waitFor } from './helpers';

const FAST_RETRY = { baseMs: 20, maxMs: 100 };

describe('local S3 ObjectCreated notifications', () => {
  let dir: string;
  let server: LocalS3;
  let s3: S3Client;

  beforeEach(async () => {
    dir = await tempDir();
    server = await start(dir, { retry: FAST_RETRY });
    s3 = client(server);
  });

  afterEach(async () => {
    s3.destroy();
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('delivers one AWS-shaped event per PUT, with the key encoded as S3 does', async () => {
    // Prepare
    const events: S3Event[] = [];
    server.onObjectCreated(async (event) => {
      events.push(event);
    });
    const body = Buffer.from('an image, honestly');
    // Act
    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/j 1/été (2).jpg', Body: body }));
    await waitFor(() => events.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Assess
    expect(events).toHaveLength(1);
    const record = events[0]?.Records[0];
    expect(events[0]?.Records).toHaveLength(1);
    expect(record).toMatchObject({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventName: 'ObjectCreated:Put',
      s3: {
        s3SchemaVersion: '1.0',
        bucket: { name: BUCKET, arn: `arn:aws:s3:::${BUCKET}` },
        object: { key: 'uploads/j+1/%C3%A9t%C3%A9+%282%29.jpg', size: body.length, eTag: put.ETag?.replace(/"/g, '') },
      },
    });
    expect(new Date(record?.eventTime ?? '').toISOString()).toBe(record?.eventTime);
    expect(record?.s3.object.sequencer).toMatch(/^[0-9A-F]{16,}$/);
    expect(decodeURIComponent((record?.s3.object.key ?? '').replace(/\+/g, ' '))).toBe('uploads/j 1/été (2).jpg');
  });

  it('names Copy and CompleteMultipartUpload events and orders sequencers per key', async () => {
    // Prepare
    const names: string[] = [];
    const sequencers: string[] = [];
    server.onObjectCreated(async (event) => {
      for (const record of event.Records) {
        names.push(record.eventName);
        if (record.s3.object.key === 'dst') sequencers.push(record.s3.object.sequencer);
      }
    });
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'dst', Body: 'one' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'src', Body: 'two' }));
    // Act
    await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'dst', CopySource: `${BUCKET}/src` }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp' }));
    const part = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'mp', UploadId, PartNumber: 1, Body: randomBytes(1000) }));
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }),
    );
    await waitFor(() => names.length >= 4);
    // Assess
    expect(names.sort()).toEqual(['ObjectCreated:CompleteMultipartUpload', 'ObjectCreated:Copy', 'ObjectCreated:Put', 'ObjectCreated:Put']);
    expect(sequencers).toHaveLength(2);
    const [first = '', second = ''] = sequencers;
    expect(first.padStart(32, '0') < second.padStart(32, '0')).toBe(true);
  });

  it('retries a failing listener with backoff and stops after its first success', async () => {
    // Prepare
    let calls = 0;
    let successes = 0;
    server.onObjectCreated(async () => {
      calls += 1;
      if (calls <= 2) throw new Error(`transient failure ${calls}`);
      successes += 1;
    });
    // Act
    const started = Date.now();
    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/j2/a.jpg', Body: 'x' }));
    const answeredIn = Date.now() - started;
    await waitFor(() => successes === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.close();
    // Assess
    expect(put.ETag).toBeDefined();
    expect(answeredIn).toBeLessThan(1000);
    expect(calls).toBe(3);
    expect(successes).toBe(1);
    expect(await fs.readdir(path.join(dir, 'outbox'))).toEqual([]);
  });

  it('never blocks or fails the PUT on a listener that hangs, and close() gives up after its grace period', async () => {
    // Prepare
    await server.close();
    server = await start(dir, { retry: FAST_RETRY, closeGraceMs: 100, buckets: [] });
    s3 = client(server);
    server.onObjectCreated(() => new Promise<void>(() => undefined));
    // Act
    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'k', Body: 'x' }));
    const started = Date.now();
    await server.close();
    // Assess
    expect(put.$metadata.httpStatusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    // Never acknowledged, so it is still owed to the next run.
    expect(await fs.readdir(path.join(dir, 'outbox'))).toHaveLength(1);
  });

  it('holds events until a listener registers after start', async () => {
    // Prepare
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'early.jpg', Body: 'x' }));
    const keys: string[] = [];
    // Act
    server.onObjectCreated(async (event) => {
      keys.push(event.Records[0]?.s3.object.key ?? '');
    });
    await waitFor(() => keys.length === 1);
    // Assess
    expect(keys).toEqual(['early.jpg']);
    expect(() => server.onObjectCreated(async () => undefined)).toThrow(/one onObjectCreated listener/);
  });

  it('redelivers pending events after a restart', async () => {
    // Prepare: a listener that never succeeds, so the event is still in the outbox at shutdown
    server.onObjectCreated(async () => {
      throw new Error('consumer down');
    });
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/j5/a.jpg', Body: 'abc' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/j5/b.jpg', Body: 'abcd' }));
    s3.destroy();
    await server.close();
    expect(await fs.readdir(path.join(dir, 'outbox'))).toHaveLength(2);
    // Act
    server = await start(dir, { retry: FAST_RETRY, buckets: [] });
    s3 = client(server);
    const delivered: Array<{ key: string; size: number }> = [];
    server.onObjectCreated(async (event) => {
      for (const record of event.Records) delivered.push({ key: record.s3.object.key, size: record.s3.object.size });
    });
    await waitFor(() => delivered.length === 2);
    // Assess
    expect(delivered).toEqual([
      { key: 'uploads/j5/a.jpg', size: 3 },
      { key: 'uploads/j5/b.jpg', size: 4 },
    ]);
    await server.close();
    expect(await fs.readdir(path.join(dir, 'outbox'))).toEqual([]);
  });

  it('produces events only for keys that pass the notification filter, and persists nothing for the rest', async () => {
    // Prepare: a server configured as serverless.yml's rules (prefix uploads/, suffix .jpg)
    s3.destroy();
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
    dir = await tempDir();
    server = await start(dir, { retry: FAST_RETRY, notificationFilter: { prefix: 'uploads/', suffix: '.jpg' } });
    s3 = client(server);
    // Act: no listener yet, so whatever is owed stays in the outbox
    for (const key of ['results/j6/a.json', 'uploads/j6/notes.txt', 'uploads/j6/a.jpg']) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'x' }));
    }
    // Assess
    expect(await fs.readdir(path.join(dir, 'outbox'))).toHaveLength(1);
    const keys: string[] = [];
    server.onObjectCreated(async (event) => {
      keys.push(event.Records[0]?.s3.object.key ?? '');
    });
    await waitFor(() => keys.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(keys).toEqual(['uploads/j6/a.jpg']);
  });
});
