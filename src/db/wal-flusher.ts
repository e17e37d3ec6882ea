import { type FileHandle, open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Makes PGlite's commits durable. PGlite writes its write-ahead log with plain write() calls at
 * commit and never fsyncs, so a commit sits in the OS page cache: safe from a killed process, not
 * from a crash of the machine. flush() fdatasyncs the WAL segments; on the next start PostgreSQL's
 * recovery replays the log over the data files.
 *
 * File times are too coarse (one kernel tick) to tell which segment changed, so every segment is
 * synced; a clean one costs a syscall. A checkpoint (seen as new contents of global/pg_control)
 * lets PostgreSQL recycle old WAL, so the data files it wrote are then made durable too.
 *
 * Flushes are coalesced: callers that arrive while one runs share the next one (group commit).
 */
export class WalFlusher {
  readonly dir: string;
  private readonly walDir: string;
  private readonly handles = new Map<string, FileHandle>();
  private control: Buffer | null = null;
  private lastFullFlushMs = 0;
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** Flushes done; the durability test reads it. */
  flushes = 0;

  constructor(dir: string) {
    this.dir = dir;
    this.walDir = join(dir, 'pg_wal');
  }

  flush(): Promise<void> {
    if (!this.running) {
      this.running = this.flushOnce().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    // A flush is under way and may have begun before our commit was written: wait for the next one.
    if (!this.queued) {
      this.queued = this.running
        .catch(() => {})
        .then(() => {
          this.queued = null;
          return this.flush();
        });
    }
    return this.queued;
  }

  private async flushOnce(): Promise<void> {
    const names = new Set((await readdir(this.walDir)).filter((n) => /^[0-9A-F]{24}$/.test(n)));
    let newSegment = false;
    for (const [name, handle] of this.handles) {
      if (!names.has(name)) {
        this.handles.delete(name);
        await handle.close();
      }
    }
    for (const name of names) {
      let handle = this.handles.get(name);
      if (!handle) {
        handle = await openIfPresent(join(this.walDir, name));
        if (!handle) continue;
        this.handles.set(name, handle);
        newSegment = true;
      }
      await handle.datasync();
    }
    if (newSegment) await syncPath(this.walDir);

    const control = await readFile(join(this.dir, 'global', 'pg_control'));
    if (!this.control || !control.equals(this.control)) {
      await this.flushAll();
      this.control = control;
    }
    this.flushes++;
  }

  /** fsyncs every file and folder of the data directory changed since the last full flush. */
  async flushAll(): Promise<void> {
    // A margin of a second covers the coarse file times.
    const since = this.lastFullFlushMs - 1000;
    const started = Date.now();
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.isFile() && (await stat(path)).mtimeMs >= since) await syncPath(path);
      }
      await syncPath(dir);
    };
    await walk(this.dir);
    this.lastFullFlushMs = started;
  }

  async close(): Promise<void> {
    for (const handle of this.handles.values()) await handle.close();
    this.handles.clear();
  }
}

async function openIfPresent(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    // A segment recycled between readdir and open is gone and needs no flush.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function syncPath(path: string): Promise<void> {
  const handle = await openIfPresent(path);
  if (!handle) return;
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
