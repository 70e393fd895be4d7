import type { InferenceEngine, ModelCatalog } from '../ports';
import type { ArchiveReader, ObjectStore, WorkQueue } from './ports';
import type { Job } from './records';

/** What ingest reads of a zip or a manifest at most; bounds the memory of one ingest invocation. */
export interface IngestLimits {
  /** Bytes of a zip object, checked before it is downloaded. */
  maxZipBytes: number;
  maxManifestBytes: number;
  maxManifestLines: number;
  /** S3 calls in flight at once for the keys of one manifest or the entries of one zip; {@link INGEST_IN_FLIGHT} by default. */
  inFlight?: number;
}

/**
 * Ingest's S3 calls in flight at once: one at a time, 100,000 manifest lines or 10,000 zip entries would not fit in
 * its timeout. A zip holds at most this many inflated entries (4 MiB each at most) in memory besides itself.
 */
export const INGEST_IN_FLIGHT = 16;

/** What a job's images, upload forms and download links are bounded by. */
export interface JobLimits {
  maxImageBytes: number;
  maxPresignedUrls: number;
  presignExpiresSeconds: number;
}

/** Everything the job use cases may need; each takes only its part (a Pick<> of this). */
export interface JobDeps {
  store: ObjectStore;
  catalog: ModelCatalog;
  engine: InferenceEngine;
  /**
   * Jobs already read by this container. A job record never changes once written, so ingest reads it once per
   * job rather than once per image.
   */
  jobs?: Map<string, Job>;
  queue: WorkQueue;
  unzip: ArchiveReader;
  ingestLimits: IngestLimits;
  now?: () => Date;
  limits: JobLimits;
}

/** The time by the injected clock, if any. */
export const now = (deps: Pick<JobDeps, 'now'>): Date => (deps.now ?? (() => new Date()))();
