import { inflateRawSync } from 'node:zlib';

// Just enough of ZIP (APPNOTE 6.3) to judge an uploaded office document: the central directory's
// entries, and the content of a few small ones. There is no ZIP library among our dependencies and
// this is all we need. It is strict on purpose: anything before the first entry or after the end
// record, ZIP64, several disks, or offsets that do not add up make the file unreadable, since an
// office suite and this reader must not see two different files.

export interface ZipEntry {
  name: string;
  flags: number;
  method: number;
  compressedSize: number;
  size: number;
  offset: number;
}

export interface Zip {
  entries: ZipEntry[];
  /** Where the central directory begins: every entry's data lies before it. */
  directoryOffset: number;
}

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const END = 0x06054b50;
const END_SIZE = 22;
const ENCRYPTED = 0x1;

/** The central directory, or null when the buffer is not one plain, whole ZIP file. */
export function readZip(buf: Buffer): Zip | null {
  if (buf.length < END_SIZE || buf.readUInt32LE(0) !== LOCAL) return null;
  const end = findEnd(buf);
  if (end < 0) return null;
  const disk = buf.readUInt16LE(end + 4);
  const directoryDisk = buf.readUInt16LE(end + 6);
  const onDisk = buf.readUInt16LE(end + 8);
  const count = buf.readUInt16LE(end + 10);
  const size = buf.readUInt32LE(end + 12);
  const offset = buf.readUInt32LE(end + 16);
  // ZIP64 marks its fields 0xffff / 0xffffffff; an office document of our sizes never needs it.
  if (disk !== 0 || directoryDisk !== 0 || onDisk !== count || count === 0xffff) return null;
  if (offset + size !== end) return null;

  const entries: ZipEntry[] = [];
  let at = offset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > end || buf.readUInt32LE(at) !== CENTRAL) return null;
    const nameLength = buf.readUInt16LE(at + 28);
    const next = at + 46 + nameLength + buf.readUInt16LE(at + 30) + buf.readUInt16LE(at + 32);
    if (next > end) return null;
    const entry: ZipEntry = {
      name: buf.subarray(at + 46, at + 46 + nameLength).toString('utf8'),
      flags: buf.readUInt16LE(at + 8),
      method: buf.readUInt16LE(at + 10),
      compressedSize: buf.readUInt32LE(at + 20),
      size: buf.readUInt32LE(at + 24),
      offset: buf.readUInt32LE(at + 42),
    };
    if (entry.offset >= offset || entry.compressedSize === 0xffffffff || entry.size === 0xffffffff)
      return null;
    entries.push(entry);
    at = next;
  }
  if (at !== end || !entries.some((e) => e.offset === 0)) return null;
  return { entries, directoryOffset: offset };
}

/** The end record: the last one whose comment reaches exactly to the end of the buffer. */
function findEnd(buf: Buffer): number {
  const lowest = Math.max(0, buf.length - END_SIZE - 0xffff);
  for (let at = buf.length - END_SIZE; at >= lowest; at--)
    if (buf.readUInt32LE(at) === END && at + END_SIZE + buf.readUInt16LE(at + 20) === buf.length) return at;
  return -1;
}

/**
 * One entry's content, inflated, or null when it cannot be read plainly (encrypted, another
 * method, sizes that do not match) or would be larger than `maxBytes`.
 */
export function entryContent(buf: Buffer, zip: Zip, entry: ZipEntry, maxBytes: number): Buffer | null {
  if (entry.flags & ENCRYPTED || entry.size > maxBytes) return null;
  const at = entry.offset;
  if (at + 30 > zip.directoryOffset || buf.readUInt32LE(at) !== LOCAL) return null;
  const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
  const stop = start + entry.compressedSize;
  if (stop > zip.directoryOffset) return null;
  const data = buf.subarray(start, stop);
  let content: Buffer;
  if (entry.method === 0) content = data;
  else if (entry.method === 8) {
    try {
      content = inflateRawSync(data, { maxOutputLength: Math.max(1, maxBytes) });
    } catch {
      return null;
    }
  } else return null;
  return content.length === entry.size ? content : null;
}
