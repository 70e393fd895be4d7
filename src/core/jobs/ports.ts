import type { InvalidArchiveEntryError, InvalidArchiveError, PayloadTooLargeError } from '../errors';
import type { WorkItem } from './records';

/** An object as the job use cases need it. */
export interface StoredObject {
  body: Uint8Array;
  etag: string;
  metadata: Record<string, string>;
}

/**
 * What a presigned POST lets its holder upload, enforced by S3 itself before any function reads a byte: one
 * content type (or a prefix of one), 1 to `maxBytes` bytes, until `expiresSeconds` from now.
 */
export type UploadPolicy = { maxBytes: number; expiresSeconds: number } & ({ contentType: string } | { contentTypePrefix: string });

/** A browser-style upload form: POST `fields`, then the file last as field `file`, to `url`. */
export interface PresignedPost {
  url: string;
  fields: Record<string, string>;
}

/** What a HEAD tells of an object. */
export interface ObjectHead {
  etag: string;
  size: number;
  metadata: Record<string, string>;
}

/** The bucket (S3 in AWS, the local S3 emulator offline). */
export interface ObjectStore {
  readonly bucket: string;
  get(key: string): Promise<StoredObject | undefined>;
  head(key: string): Promise<ObjectHead | undefined>;
  put(key: string, body: Uint8Array | string, options?: { contentType?: string; metadata?: Record<string, string> }): Promise<void>;
  /** Writes `key` only if it does not exist yet (an S3 conditional write); false when it already did. */
  create(key: string, body: Uint8Array | string, options?: { contentType?: string; metadata?: Record<string, string> }): Promise<boolean>;
  list(prefix: string): Promise<Array<{ key: string; size: number; etag: string }>>;
  delete(key: string): Promise<void>;
  /** A form that uploads exactly `key`, within `policy`. */
  presignPost(key: string, policy: UploadPolicy): Promise<PresignedPost>;
  presignGet(key: string, expiresSeconds: number): Promise<string>;
}

/**
 * The work queue feeding inference workers (SQS). It takes any number of items: splitting them into the messages
 * and calls its transport allows is its own business.
 */
export interface WorkQueue {
  send(items: readonly WorkItem[]): Promise<void>;
}

/** One file entry of an uploaded archive, as its directory lists it; its bytes are inflated only when read. */
export interface ArchiveEntry {
  /** Its path inside the archive, decoded (UTF-8 or CP437). */
  name: string;
  /** Set when the name is unsafe as a path (absolute, a `..` segment, a backslash): the entry is never read. */
  unsafeName?: string;
  /**
   * Its bytes. An entry that cannot be extracted (over the image limit, an excessive ratio, bytes that belie its
   * header, corrupt data) rejects with an {@link InvalidArchiveEntryError} or a {@link PayloadTooLargeError}.
   */
  read(): Promise<Uint8Array>;
}

/**
 * Lists the file entries of an uploaded archive (directories left out). An archive it cannot list at all is an
 * {@link InvalidArchiveError}, before any entry is read.
 */
export type ArchiveReader = (zip: Uint8Array) => Promise<readonly ArchiveEntry[]>;
