import { closeSync, fchmodSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

// Secrets shown once (a first administrator's password, an API key) are printed only to a person at
// a terminal. Output that goes anywhere else (a pipe, a file, journald, a container runtime's log)
// is kept, so they are written to a file only this user can read, and its path is printed instead.

/**
 * Writes `text` to `stream` when it is a terminal and returns null; otherwise writes it to `file`
 * (mode 0600, replacing an older one) and returns the file's path.
 */
export function showOnce(stream: NodeJS.WriteStream, text: string, file: string): string | null {
  if (stream.isTTY) {
    stream.write(text);
    return null;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600); // a file left by an earlier start keeps its mode otherwise
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return file;
}
