import fs from 'node:fs';
import path from 'node:path';

/** Write-ahead log of JSON lines: appended synchronously before the server answers, replayed and compacted at start. */
export class Journal<R> {
  private fd: number;
  private appended = 0;

  private constructor(
    private readonly file: string,
    private readonly fsync: boolean,
  ) {
    this.fd = fs.openSync(file, 'a');
  }

  /** Reads every intact record (a torn last line from a crash is skipped), then opens the file for appending. */
  static open<R>(dir: string, fsync: boolean): { journal: Journal<R>; records: R[]; skipped: number } {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'sqs-journal.jsonl');
    const records: R[] = [];
    let skipped = 0;
    if (fs.existsSync(file)) {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        if (line === '') continue;
        try {
          records.push(JSON.parse(line) as R);
        } catch {
          skipped += 1;
        }
      }
    }
    return { journal: new Journal<R>(file, fsync), records, skipped };
  }

  /** Records appended since the last compaction, to decide when compaction pays. */
  get size(): number {
    return this.appended;
  }

  // writeSync hands the line to the kernel before we reply, so a process crash cannot lose an acknowledged write;
  // fsync is only needed to survive a power cut, and costs milliseconds per request.
  append(record: R): void {
    fs.writeSync(this.fd, `${JSON.stringify(record)}\n`);
    this.appended += 1;
    if (this.fsync) fs.fsyncSync(this.fd);
  }

  /** Replaces the log with `records` atomically (write, fsync, rename), so a crash mid-way keeps the old log. */
  rewrite(records: Iterable<R>): void {
    const tmp = `${this.file}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      let chunk: string[] = [];
      for (const record of records) {
        chunk.push(JSON.stringify(record));
        if (chunk.length >= 1000) {
          fs.writeSync(fd, `${chunk.join('\n')}\n`);
          chunk = [];
        }
      }
      if (chunk.length > 0) fs.writeSync(fd, `${chunk.join('\n')}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.closeSync(this.fd);
    fs.renameSync(tmp, this.file);
    this.fd = fs.openSync(this.file, 'a');
    this.appended = 0;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

const heldLocks = new Set<string>();

/**
 * Keeps two emulators from interleaving writes to one journal; a lock left by a dead process is taken over.
 */
export function acquireLock(dir: string): () => void {
  const file = path.join(dir, 'sqs.lock');
  if (heldLocks.has(file)) throw new Error(`another local SQS server in this process is using ${dir}`);
  try {
    const pid = Number(fs.readFileSync(file, 'utf8'));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new Error(`local SQS data dir ${dir} is in use by process ${pid}`);
    }
  } catch (err: unknown) {
    if (errorCode(err) !== 'ENOENT') throw err;
  }
  fs.writeFileSync(file, String(process.pid));
  heldLocks.add(file);
  return () => {
    heldLocks.delete(file);
    fs.rmSync(file, { force: true });
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return errorCode(err) === 'EPERM';
  }
}

// Not `instanceof Error`: errors from Node's fs come from another realm under Jest.
function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
}
