import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config/index.ts';

export interface MasterKey {
  id: string;
  key: Buffer;
}

/** The keys that can unwrap organisation keys; the first one wraps new ones. */
export interface MasterKeys {
  keys: MasterKey[];
  /** The file they came from, or null when supplied by SEALPOST_MASTER_KEY. */
  file: string | null;
}

export function masterKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('sealpost master key id').digest('hex').slice(0, 16);
}

function parseKey(line: string, where: string): MasterKey {
  const key = Buffer.from(line.trim(), 'base64');
  if (key.length !== 32) throw new Error(`${where}: a master key must be 32 bytes in base64`);
  return { id: masterKeyId(key), key };
}

/**
 * The master key comes from SEALPOST_MASTER_KEY or from the key file, which is generated (mode
 * 0600) on first start. The file may hold several keys, newest first, one base64 key a line:
 * during a rotation other processes still find the key that wrapped what they read.
 */
export function loadMasterKeys(config: Pick<Config, 'masterKey' | 'masterKeyFile'>): MasterKeys {
  if (config.masterKey) return { keys: [parseKey(config.masterKey, 'SEALPOST_MASTER_KEY')], file: null };
  const file = config.masterKeyFile;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    writeKeyFile(file, [randomBytes(32)]);
    text = readFileSync(file, 'utf8');
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(`${file} is readable by others (mode ${mode.toString(8)}): run chmod 600 ${file}`);
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error(`${file} holds no master key`);
  return { keys: lines.map((l, i) => parseKey(l, `${file} line ${i + 1}`)), file };
}

/** Writes the key file whole, through a temporary file, so a crash never leaves half a key. */
export function writeKeyFile(file: string, keys: Buffer[]): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, keys.map((k) => `${k.toString('base64')}\n`).join(''), { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, file);
}
