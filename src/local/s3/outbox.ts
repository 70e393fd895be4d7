import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { S3Event } from 'aws-lambda';
import { unlinkIfExists, writeFileAtomic } from './fs-atomic';

/** Receives bucket notifications; a rejection means "not delivered, try again later". */
export type ObjectCreatedListener = (event: S3Event) => Promise<void>;

/** Retry schedule while the listener rejects: exponential from `baseMs`, capped at `maxMs`, with jitter. */
export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
}

/** Where delivery failures are reported; the default writes one JSON line to stderr. */
export type NotificationLog = (message: string, details: Record<string, unknown>) => void;

interface Pending {
  file: string;
  event: S3Event;
  attempts: number;
  dueAt: number;
}

/**
 * Deliveries in flight. S3 invokes a function asynchronously for each event with no such cap; locally 16 kept
 * ingest up with uploads better than 4 (README, Design notes).
 */
const CONCURRENCY = 16;

/**
 * A durable outbox of S3 events: `enqueue` persists before returning (so a PUT answered 200 cannot lose
 * its event), delivery is asynchronous and retried until the listener resolves, and entries left at
 * shutdown are redelivered on the next start. At-least-once: a listener may see an event twice.
 */
export class NotificationOutbox {
  private readonly pending = new Map<string, Pending>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly inFlightIds = new Set<string>();
  private listener: ObjectCreatedListener | undefined;
  private timer: NodeJS.Timeout | undefined;
  private counter = 0;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly tmpDir: string,
    private readonly retry: RetryPolicy,
    private readonly log: NotificationLog,
    private readonly fsync: boolean,
  ) {}

  /** Opens the outbox in `dir`, loading entries a previous run did not deliver. */
  static async open(dir: string, tmpDir: string, retry: RetryPolicy, log: NotificationLog, fsync = false): Promise<NotificationOutbox> {
    const outbox = new NotificationOutbox(dir, tmpDir, retry, log, fsync);
    await fs.mkdir(dir, { recursive: true });
    // File names start with a zero-padded timestamp, so name order is enqueue order.
    for (const name of (await fs.readdir(dir)).sort()) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(dir, name);
      try {
        const event = JSON.parse(await fs.readFile(file, 'utf8')) as S3Event;
        outbox.pending.set(name, { file, event, attempts: 0, dueAt: 0 });
      } catch (err: unknown) {
        // Writes are atomic, so this is outside interference; keep the file for a human, skip it here.
        log('unreadable outbox entry set aside', { file, error: String(err) });
        await fs.rename(file, `${file}.unreadable`);
      }
    }
    return outbox;
  }

  /** Number of events not yet acknowledged by the listener. */
  get size(): number {
    return this.pending.size;
  }

  /** Persists `event` durably, then schedules its delivery. */
  async enqueue(event: S3Event): Promise<void> {
    const name = `${String(Date.now()).padStart(15, '0')}-${String(this.counter++).padStart(9, '0')}-${randomUUID()}.json`;
    const file = path.join(this.dir, name);
    await writeFileAtomic(file, JSON.stringify(event), this.tmpDir, this.fsync);
    this.pending.set(name, { file, event, attempts: 0, dueAt: 0 });
    this.pump();
  }

  /** Sets the single listener; events enqueued before it was set are delivered now. */
  setListener(listener: ObjectCreatedListener): void {
    if (this.listener !== undefined) {
      throw new Error('local S3 supports one onObjectCreated listener; fan out inside it if you need more');
    }
    this.listener = listener;
    this.pump();
  }

  /**
   * Stops delivering and waits up to `graceMs` for deliveries in progress. Entries stay on disk until
   * acknowledged, so one still running at the deadline is simply delivered again on the next start.
   */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), deadline]);
    clearTimeout(timer);
  }

  private pump(): void {
    const listener = this.listener;
    if (listener === undefined || this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const now = Date.now();
    let nextDue = Number.POSITIVE_INFINITY;
    for (const [id, entry] of this.pending) {
      if (this.inFlightIds.size >= CONCURRENCY) return; // a finishing delivery pumps again
      if (this.inFlightIds.has(id)) continue;
      if (entry.dueAt > now) {
        nextDue = Math.min(nextDue, entry.dueAt);
        continue;
      }
      this.deliver(listener, id, entry);
    }
    if (nextDue !== Number.POSITIVE_INFINITY) this.timer = setTimeout(() => this.pump(), nextDue - now);
  }

  private deliver(listener: ObjectCreatedListener, id: string, entry: Pending): void {
    this.inFlightIds.add(id);
    const delivery = (async () => {
      try {
        // A copy per attempt: a listener that mutates its event must not change what a retry sends.
        await listener(structuredClone(entry.event));
      } catch (err: unknown) {
        entry.attempts += 1;
        const delay = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (entry.attempts - 1));
        entry.dueAt = Date.now() + delay / 2 + Math.random() * (delay / 2);
        this.log('S3 notification delivery failed; will retry', {
          key: entry.event.Records[0]?.s3.object.key,
          attempts: entry.attempts,
          retryInMs: Math.round(entry.dueAt - Date.now()),
          error: err instanceof Error ? err.message : String(err),
        });
        return;
      }
      this.pending.delete(id);
      try {
        await unlinkIfExists(entry.file);
      } catch (err: unknown) {
        // The event was delivered; failing to forget it only means a duplicate after a restart.
        this.log('could not remove delivered outbox entry', { file: entry.file, error: String(err) });
      }
    })().finally(() => {
      this.inFlightIds.delete(id);
      this.inFlight.delete(delivery);
      this.pump();
    });
    this.inFlight.add(delivery);
  }
}
