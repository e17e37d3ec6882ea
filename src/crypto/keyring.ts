import { randomBytes } from 'node:crypto';
import type { Db, Queryable } from '../db/index.ts';
import { SealpostError } from '../errors/index.ts';
import { AEAD_OVERHEAD, decrypt, encrypt } from './aead.ts';
import { loadMasterKeys, type MasterKey, type MasterKeys, masterKeyId, writeKeyFile } from './master-key.ts';

/** Which row a sealed value belongs to: bound into the ciphertext, so it opens nowhere else. */
export interface Binding {
  table: string;
  row: string;
}

// Blob layout: format (1) ‖ org key version (4, big-endian) ‖ wrapped data key (60) ‖ sealed payload.
const FORMAT = 1;
const WRAPPED_DEK = 32 + AEAD_OVERHEAD;
const HEADER = 1 + 4 + WRAPPED_DEK;
// Unwrapped organisation keys are kept this long; a key destroyed or rotated by another process
// stops being used here within this time.
const CACHE_MS = 60_000;

const aad = (...parts: (string | number)[]) => Buffer.from(JSON.stringify(parts));

const invalid = () =>
  new SealpostError('seal_invalid', 'Sealed data does not open: it was altered or belongs elsewhere.');

interface CachedKey {
  key: Buffer;
  at: number;
}

/**
 * Envelope encryption at rest: a fresh data key per sealed value, wrapped by the organisation's
 * newest key; organisation keys wrapped by the master key. Rotation re-wraps keys, never data.
 */
export class Keyring {
  private readonly db: Db;
  private master: MasterKeys;
  private readonly reload: () => MasterKeys;
  private readonly keys = new Map<string, CachedKey>();
  private readonly newest = new Map<string, { version: number; at: number }>();

  constructor(db: Db, master: MasterKeys, options: { reload?: () => MasterKeys } = {}) {
    this.db = db;
    this.master = master;
    const file = master.file;
    this.reload = options.reload ?? (() => (file ? loadMasterKeys({ masterKeyFile: file }) : master));
  }

  /** Creates version 1 of an organisation's key, inside the transaction that creates it. */
  async createOrgKey(q: Queryable, orgId: string): Promise<number> {
    return this.insertOrgKey(q, orgId, 1);
  }

  private async insertOrgKey(q: Queryable, orgId: string, version: number): Promise<number> {
    const key = randomBytes(32);
    const wrapping = this.master.keys[0]!;
    await q.query(
      'INSERT INTO org_keys (org_id, version, wrapped_key, master_key_id) VALUES ($1, $2, $3, $4)',
      [orgId, version, encrypt(wrapping.key, key, aad('org-key', orgId, version)), wrapping.id],
    );
    return version;
  }

  async seal(orgId: string, binding: Binding, plaintext: Buffer | string): Promise<Buffer> {
    const version = await this.newestVersion(orgId);
    const orgKey = await this.orgKey(orgId, version);
    const dataKey = randomBytes(32);
    const header = Buffer.alloc(5);
    header.writeUInt8(FORMAT, 0);
    header.writeUInt32BE(version, 1);
    const context = aad('data', orgId, binding.table, binding.row, version);
    const wrapped = encrypt(orgKey, dataKey, context);
    const payload = encrypt(dataKey, Buffer.from(plaintext), Buffer.concat([context, header]));
    return Buffer.concat([header, wrapped, payload]);
  }

  async open(orgId: string, binding: Binding, blob: Buffer): Promise<Buffer> {
    if (blob.length < HEADER + AEAD_OVERHEAD || blob[0] !== FORMAT) throw invalid();
    const version = blob.readUInt32BE(1);
    const orgKey = await this.orgKey(orgId, version);
    const context = aad('data', orgId, binding.table, binding.row, version);
    try {
      const dataKey = decrypt(orgKey, blob.subarray(5, HEADER), context);
      return decrypt(dataKey, blob.subarray(HEADER), Buffer.concat([context, blob.subarray(0, 5)]));
    } catch {
      throw invalid();
    }
  }

  async openText(orgId: string, binding: Binding, blob: Buffer): Promise<string> {
    return (await this.open(orgId, binding, blob)).toString('utf8');
  }

  /** Adds a key version; new seals use it, older data keeps opening with the older versions. */
  async rotateOrgKey(orgId: string): Promise<number> {
    const version = await this.db.transaction(async (tx) => {
      // Lock the organisation row so two rotations cannot pick the same version.
      const org = await tx.query('SELECT 1 FROM organizations WHERE org_id = $1 FOR UPDATE', [orgId]);
      if (org.rowCount === 0) throw new SealpostError('not_found', 'The organisation was not found.');
      const { rows } = await tx.query<{ v: number }>(
        'SELECT coalesce(max(version), 0)::int AS v FROM org_keys WHERE org_id = $1',
        [orgId],
      );
      return this.insertOrgKey(tx, orgId, rows[0]!.v + 1);
    });
    this.newest.set(orgId, { version, at: Date.now() });
    return version;
  }

  /**
   * Puts a new master key first in the key file, re-wraps every organisation key under it in small
   * transactions, then drops the old keys from the file once nothing refers to them.
   */
  async rotateMaster(
    newKey: Buffer = randomBytes(32),
    onProgress: (line: string) => void = () => {},
  ): Promise<{ master_key_id: string; rewrapped: number }> {
    const file = this.master.file;
    if (!file) {
      throw new SealpostError(
        'master_key_in_environment',
        'The master key comes from SEALPOST_MASTER_KEY: move it to a key file (SEALPOST_MASTER_KEY_FILE) to rotate it here.',
      );
    }
    const current = this.reload();
    const fresh: MasterKey = { id: masterKeyId(newKey), key: newKey };
    writeKeyFile(file, [newKey, ...current.keys.map((k) => k.key)]);
    this.master = { keys: [fresh, ...current.keys], file };
    onProgress(`new master key ${fresh.id} written to ${file}`);

    let rewrapped = 0;
    for (;;) {
      const batch = await this.db.transaction(async (tx) => {
        const { rows } = await tx.query<{
          org_id: string;
          version: number;
          wrapped_key: Buffer;
          master_key_id: string;
        }>(
          `SELECT org_id, version, wrapped_key, master_key_id FROM org_keys
           WHERE wrapped_key IS NOT NULL AND master_key_id <> $1
           ORDER BY org_id, version LIMIT 100 FOR UPDATE SKIP LOCKED`,
          [fresh.id],
        );
        for (const row of rows) {
          const key = this.unwrap(row.org_id, row.version, row.wrapped_key, row.master_key_id);
          await tx.query(
            'UPDATE org_keys SET wrapped_key = $3, master_key_id = $4 WHERE org_id = $1 AND version = $2',
            [
              row.org_id,
              row.version,
              encrypt(fresh.key, key, aad('org-key', row.org_id, row.version)),
              fresh.id,
            ],
          );
        }
        return rows.length;
      });
      if (batch === 0) break;
      rewrapped += batch;
      onProgress(`re-wrapped ${rewrapped} organisation key(s)`);
    }

    const { rows } = await this.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM org_keys WHERE wrapped_key IS NOT NULL AND master_key_id <> $1',
      [fresh.id],
    );
    if (rows[0]!.n === 0) {
      writeKeyFile(file, [newKey]);
      this.master = { keys: [fresh], file };
      onProgress('old master keys removed from the key file');
    } else {
      onProgress(
        `${rows[0]!.n} key(s) still wrapped by an old master key (in use elsewhere): kept the old keys`,
      );
    }
    return { master_key_id: fresh.id, rewrapped };
  }

  /** Crypto-shredding: the organisation's keys are gone, and with them every value it sealed. */
  async destroyOrgKeys(orgId: string): Promise<number> {
    const { rowCount } = await this.db.query(
      'UPDATE org_keys SET wrapped_key = NULL, destroyed_at = now() WHERE org_id = $1 AND wrapped_key IS NOT NULL',
      [orgId],
    );
    for (const id of this.keys.keys()) if (id.startsWith(`${orgId}:`)) this.keys.delete(id);
    this.newest.delete(orgId);
    return rowCount;
  }

  private async newestVersion(orgId: string): Promise<number> {
    const cached = this.newest.get(orgId);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.version;
    const { rows } = await this.db.query<{ version: number }>(
      'SELECT version FROM org_keys WHERE org_id = $1 AND wrapped_key IS NOT NULL ORDER BY version DESC LIMIT 1',
      [orgId],
    );
    if (!rows[0]) throw destroyedOrMissing(orgId);
    this.newest.set(orgId, { version: rows[0].version, at: Date.now() });
    return rows[0].version;
  }

  private async orgKey(orgId: string, version: number): Promise<Buffer> {
    const id = `${orgId}:${version}`;
    const cached = this.keys.get(id);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.key;
    const { rows } = await this.db.query<{ wrapped_key: Buffer | null; master_key_id: string }>(
      'SELECT wrapped_key, master_key_id FROM org_keys WHERE org_id = $1 AND version = $2',
      [orgId, version],
    );
    const row = rows[0];
    if (!row) throw invalid();
    if (!row.wrapped_key) throw destroyedOrMissing(orgId);
    const key = this.unwrap(orgId, version, row.wrapped_key, row.master_key_id);
    this.keys.set(id, { key, at: Date.now() });
    return key;
  }

  private unwrap(orgId: string, version: number, wrapped: Buffer, masterId: string): Buffer {
    let master = this.master.keys.find((k) => k.id === masterId);
    if (!master) {
      // Another process rotated the master key: its new key is in the file by now.
      this.master = this.reload();
      master = this.master.keys.find((k) => k.id === masterId);
    }
    if (!master) {
      throw new SealpostError(
        'master_key_missing',
        `Master key ${masterId} is not available to this process.`,
      );
    }
    return decrypt(master.key, wrapped, aad('org-key', orgId, version));
  }
}

function destroyedOrMissing(orgId: string) {
  return new SealpostError(
    'key_destroyed',
    `The keys of organisation ${orgId} were destroyed: its sealed data is gone.`,
  );
}
