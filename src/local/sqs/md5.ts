import { createHash } from 'node:crypto';

/** A message attribute as the JSON protocol carries it (`BinaryValue` is base64). */
export interface MessageAttributeValue {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
  StringListValues?: string[];
  BinaryListValues?: string[];
}

/** Hex MD5 of the UTF-8 body, which the SDK checks on SendMessage(Batch) and ReceiveMessage. */
export function md5OfBody(body: string): string {
  return createHash('md5').update(body, 'utf8').digest('hex');
}

function lengthPrefixed(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length, 0);
  return Buffer.concat([length, bytes]);
}

/**
 * MD5 of message attributes by SQS's documented encoding: names sorted; each name, data type and value
 * length-prefixed (4-byte big-endian), with transport byte 1 for String/Number and 2 for Binary.
 */
export function md5OfMessageAttributes(attributes: Record<string, MessageAttributeValue>): string | undefined {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const hash = createHash('md5');
  for (const name of names) {
    const attr = attributes[name];
    if (attr === undefined) continue;
    hash.update(lengthPrefixed(Buffer.from(name, 'utf8')));
    hash.update(lengthPrefixed(Buffer.from(attr.DataType, 'utf8')));
    if (attr.BinaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      hash.update(lengthPrefixed(Buffer.from(attr.BinaryValue, 'base64')));
    } else {
      hash.update(Buffer.from([1]));
      hash.update(lengthPrefixed(Buffer.from(attr.StringValue ?? '', 'utf8')));
    }
  }
  return hash.digest('hex');
}
