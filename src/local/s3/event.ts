import type { S3Event } from 'aws-lambda';

/** The `ObjectCreated:*` event names the local S3 emits. */
export type ObjectCreatedEventName = 'ObjectCreated:Put' | 'ObjectCreated:Post' | 'ObjectCreated:Copy' | 'ObjectCreated:CompleteMultipartUpload';

/** What is needed to describe one created object. */
export interface ObjectCreatedFacts {
  eventName: ObjectCreatedEventName;
  region: string;
  bucket: string;
  key: string;
  size: number;
  /** Quoted or not; events carry it unquoted. */
  etag: string;
  sequencer: string;
  requestId: string;
  hostId: string;
  sourceIp: string;
  configurationId: string;
}

const PRINCIPAL = 'LOCAL';

/** Builds an S3 event notification shaped like the ones S3 sends to Lambda. */
export function objectCreatedEvent(facts: ObjectCreatedFacts): S3Event {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: facts.region,
        eventTime: new Date().toISOString(),
        eventName: facts.eventName,
        userIdentity: { principalId: PRINCIPAL },
        requestParameters: { sourceIPAddress: facts.sourceIp },
        responseElements: { 'x-amz-request-id': facts.requestId, 'x-amz-id-2': facts.hostId },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: facts.configurationId,
          bucket: { name: facts.bucket, ownerIdentity: { principalId: PRINCIPAL }, arn: `arn:aws:s3:::${facts.bucket}` },
          object: {
            key: encodeEventKey(facts.key),
            size: facts.size,
            eTag: facts.etag.replace(/"/g, ''),
            sequencer: facts.sequencer,
          },
        },
      },
    ],
  };
}

/**
 * Encodes a key the way S3 writes it into event notifications: form-style, so a space is `+`,
 * `/` and `A-Z a-z 0-9 - _ . *` stay literal, everything else is %XX of its UTF-8 bytes.
 * Consumers undo it with `decodeURIComponent(key.replace(/\+/g, ' '))`.
 */
export function encodeEventKey(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.*/]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

let lastSequencer = 0n;

/**
 * A sequencer as S3 uses it: a hex string that orders events for the same key (compare after
 * left-padding to equal length). Time-based, so it keeps increasing across restarts.
 */
export function nextSequencer(): string {
  const now = BigInt(Date.now()) * 1000n;
  lastSequencer = now > lastSequencer ? now : lastSequencer + 1n;
  return lastSequencer.toString(16).toUpperCase().padStart(16, '0');
}
