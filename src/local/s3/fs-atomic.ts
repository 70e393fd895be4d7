import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Writes `data` to `target` so a reader (or a restart after a crash) sees the old file or the new one,
 * never a torn one: temp file in `tmpDir` (same file system), then rename. With `fsync` the data and the
 * rename are also flushed to disk, so they survive a power cut too.
 */
export async function writeFileAtomic(target: string, data: string | Buffer, tmpDir: string, fsync: boolean): Promise<void> {
  const tmp = path.join(tmpDir, `${randomUUID()}.tmp`);
  if (fsync) {
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } else {
    await fs.writeFile(tmp, data);
  }
  await commitFile(tmp, target, fsync, fsync);
}

/**
 * Moves a fully written temp file into place. With `fsync` its data are flushed first (unless the caller
 * already did: `flushed`) and the destination directory after, so the rename itself survives a power cut.
 */
export async function commitFile(from: string, to: string, flushed: boolean, fsync: boolean): Promise<void> {
  if (fsync && !flushed) await syncPath(from);
  await fs.rename(from, to);
  if (fsync) await syncPath(path.dirname(to));
}

async function syncPath(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Deletes a file, treating "already gone" as success. */
export async function unlinkIfExists(file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (err: unknown) {
    if (!isNotFound(err)) throw err;
  }
}

/** True for ENOENT. */
export function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === 'ENOENT';
}

/** Runs tasks one at a time per key, so commits to the same object never interleave. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
