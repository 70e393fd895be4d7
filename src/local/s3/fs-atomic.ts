import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Writes `data` to `target` so a reader (or a restart after a crash) sees the old file or the new one,
 * never a torn one: temp file in `tmpDir` (same file system), fsync, rename, fsync the directory.
 */
export async function writeFileAtomic(target: string, data: string | Buffer, tmpDir: string): Promise<void> {
  const tmp = path.join(tmpDir, `${randomUUID()}.tmp`);
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await renameDurably(tmp, target);
}

/** Renames and fsyncs the destination directory, so the rename itself survives a power cut. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await fs.rename(from, to);
  await fsyncDir(path.dirname(to));
}

/** Flushes a file's data to disk. */
export async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
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
