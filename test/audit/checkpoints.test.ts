import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  appendAudit,
  type AuditVerifyBroken,
  CHECKPOINT_FORMAT,
  checkpointSigned,
  exportCheckpoints,
  parseCheckpoints,
  verifyAudit,
  writeCheckpoints,
} from '../../src/audit/index.ts';
import { deriveSigningKey } from '../../src/crypto/index.ts';
import type { Db } from '../../src/db/index.ts';
import { SealpostError } from '../../src/errors/index.ts';
import { asSuperuser, cutTail, deleteChain, rehash } from '../support/audit-tamper.ts';
import { describeEachDb } from '../support/db.ts';

const T0 = Date.parse('2026-05-01T08:00:00.000Z');
const MINUTE = 60_000;

/** An organisation, as the organizations table knows it, with `n` audit events in its chain. */
async function organisation(db: Db, name: string, n: number): Promise<string> {
  const { rows } = await db.query<{ org_id: string }>(
    'INSERT INTO organizations (name) VALUES ($1) RETURNING org_id',
    [name],
  );
  const orgId = rows[0]!.org_id;
  for (let i = 1; i <= n; i++) {
    await appendAudit(db, {
      orgId,
      actor: { type: 'user', id: `u${i % 2}`, label: 'user' },
      action: 'api_key.created',
      objectType: 'api_key',
      objectId: `key-${i}`,
      outcome: 'success',
      details: { i },
    });
  }
  return orgId;
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

/** The break named for one chain, or undefined. */
const breakOf = (result: Awaited<ReturnType<typeof verifyAudit>>, orgId: string) =>
  result.ok ? undefined : (result as AuditVerifyBroken).breaks.find((b) => b.orgId === orgId);

describeEachDb('audit checkpoints', (suite) => {
  const key = deriveSigningKey(randomBytes(32));
  const trusted = new Map([[key.id, key.publicKey]]);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sealpost-checkpoints-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("each chain's head is signed when it moved, and only then; the tables are append-only", async () => {
    const a = await organisation(suite.db, 'A', 3);
    const b = await organisation(suite.db, 'B', 2);
    assert.equal(await writeCheckpoints(suite.db, key, new Date(T0)), 2);
    assert.equal(await writeCheckpoints(suite.db, key, new Date(T0 + MINUTE)), 0, 'no head moved');
    await appendAudit(suite.db, {
      orgId: a,
      actor: { type: 'system', id: 's', label: 's' },
      action: 'audit.exported',
      objectType: 'audit_trail',
      objectId: a,
      outcome: 'success',
    });
    assert.equal(
      await writeCheckpoints(suite.db, key, new Date(T0 + 2 * MINUTE)),
      1,
      'only the head that moved',
    );
    // Another key has signed nothing yet: it signs every head once.
    const other = deriveSigningKey(randomBytes(32));
    assert.equal(await writeCheckpoints(suite.db, other, new Date(T0 + 3 * MINUTE)), 2);

    const lines = (await collect(exportCheckpoints(suite.db))).map((l) => JSON.parse(l));
    const name = (c: { org_id: string; seq: number; key_id: string }) =>
      `${c.org_id === a ? 'a' : 'b'}:${c.seq}:${c.key_id === key.id ? 'key' : 'other'}`;
    assert.deepEqual(lines.map(name).sort(), ['a:3:key', 'a:4:key', 'a:4:other', 'b:2:key', 'b:2:other']);
    assert.deepEqual(
      lines.map((c) => [c.org_id, c.seq]),
      lines.map((c) => [c.org_id, c.seq]).sort((x, y) => `${x[0]}`.localeCompare(`${y[0]}`) || x[1] - y[1]),
      'in chain order',
    );
    const parsed = parseCheckpoints(lines.map((l) => JSON.stringify(l)).join('\n'));
    for (const c of parsed) assert.ok(checkpointSigned(c, c.publicKey), `${c.orgId} ${c.seq}`);
    assert.deepEqual(
      (await collect(exportCheckpoints(suite.db, { orgId: b }))).map((l) => JSON.parse(l).org_id),
      [b, b],
      "one organisation's only",
    );

    for (const sql of [
      'UPDATE audit_checkpoints SET seq = seq + 1',
      'DELETE FROM audit_checkpoints',
      'TRUNCATE audit_checkpoints',
    ]) {
      await assert.rejects(suite.db.query(sql), /the audit trail is append-only/, sql);
    }
  });

  test('an exported checkpoint checks with openssl alone: the signed bytes and key id are as documented', async () => {
    const lines = await collect(exportCheckpoints(suite.db));
    {
      const c = JSON.parse(lines[0]!);
      assert.equal(c.format, CHECKPOINT_FORMAT);
      const pem = join(dir, `key-${suite.kind}.pem`);
      const message = join(dir, `message-${suite.kind}`);
      const signature = join(dir, `signature-${suite.kind}`);
      const der = Buffer.from(c.public_key, 'base64').toString('base64');
      writeFileSync(pem, `-----BEGIN PUBLIC KEY-----\n${der}\n-----END PUBLIC KEY-----\n`);
      // What `jq -cj '[.format, .org_id, .seq, .hash, .signed_at, .key_id]'` prints.
      writeFileSync(message, JSON.stringify([c.format, c.org_id, c.seq, c.hash, c.signed_at, c.key_id]));
      writeFileSync(signature, Buffer.from(c.signature, 'base64'));
      const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });
      assert.match(
        openssl(
          'pkeyutl',
          '-verify',
          '-pubin',
          '-inkey',
          pem,
          '-rawin',
          '-in',
          message,
          '-sigfile',
          signature,
        ),
        /Signature Verified Successfully/,
      );
      const derFile = join(dir, `key-${suite.kind}.der`);
      openssl('pkey', '-pubin', '-in', pem, '-outform', 'DER', '-out', derFile);
      assert.match(openssl('dgst', '-sha256', derFile), new RegExp(`= ${c.key_id}$`, 'm'));
    }
  });

  test('the three tamperings the hardening found: a cut tail, a deleted chain, a re-hashed chain', async () => {
    const cut = await organisation(suite.db, 'Cut', 6);
    const deleted = await organisation(suite.db, 'Deleted', 4);
    const gone = await organisation(suite.db, 'Gone with its organisation', 4);
    const rehashed = await organisation(suite.db, 'Rehashed', 6);
    const mine = [cut, deleted, gone, rehashed];
    await writeCheckpoints(suite.db, key, new Date(T0 + 10 * MINUTE));
    // A checkpoint by a key this verifier does not hold counts for nothing.
    await writeCheckpoints(suite.db, deriveSigningKey(randomBytes(32)), new Date(T0 + 10 * MINUTE));
    // The auditor's copy, taken before the attack.
    const file = parseCheckpoints((await collect(exportCheckpoints(suite.db))).join('\n'));

    const before = await verifyAudit(suite.db, { checkpointKeys: trusted });
    assert.ok(before.ok, JSON.stringify(before));
    // By the other keys: one per chain now (six), and two from the first test.
    assert.equal(before.checkpoints.unverifiable, 8);
    assert.deepEqual(before.checkpoints.keyIds, [key.id]);
    assert.equal(before.checkpoints.latest?.toISOString(), new Date(T0 + 10 * MINUTE).toISOString());

    await asSuperuser(suite.db, async (tx) => {
      // 1. The tail deleted and the head moved back onto the last event left.
      await cutTail(tx, cut, 3);
      // 2. A whole chain deleted with its head; once with the organisation row kept, once without.
      await deleteChain(tx, deleted);
      await deleteChain(tx, gone);
      await tx.query('DELETE FROM organizations WHERE org_id = $1', [gone]);
      // 3. One event edited, and every later hash and the head recomputed.
      await rehash(tx, rehashed, 3);
    });

    // Without checkpoints the chains still hang together: only the organisations table names the
    // chain deleted beside its organisation.
    const unanchored = await verifyAudit(suite.db);
    assert.ok(!unanchored.ok);
    assert.deepEqual(
      unanchored.breaks.map((b) => [b.orgId, b.reason]),
      [[deleted, 'chain_missing']],
    );
    assert.match(unanchored.detail, /organisation exists but its audit chain is gone/);

    // Against the database's signed checkpoints, each of them is named.
    const checkAll = (result: Awaited<ReturnType<typeof verifyAudit>>, from: RegExp) => {
      assert.ok(!result.ok);
      const cases: [string, string, number, RegExp][] = [
        [cut, 'truncated', 4, /chain ends at event 3, but a checkpoint in .* holds event 6/],
        [deleted, 'chain_missing', 1, /holds event 4 of this chain, but the chain and its head are gone/],
        [
          gone,
          'chain_missing',
          1,
          /checkpoint in .* holds event 4 of this chain, but the chain and its head are gone/,
        ],
        [rehashed, 'rewritten', 6, /rewritten and its hashes recomputed/],
      ];
      for (const [orgId, reason, seq, detail] of cases) {
        const b = breakOf(result, orgId);
        assert.ok(b, `${reason} not found`);
        assert.deepEqual([b.reason, b.seq], [reason, seq]);
        assert.match(b.detail, detail);
        assert.match(b.detail, from);
      }
      assert.equal(result.breaks.filter((b) => mine.includes(b.orgId)).length, 4);
    };
    checkAll(await verifyAudit(suite.db, { checkpointKeys: trusted }), /the database signed at/);

    // The attacker cannot make a checkpoint agree: one with the rewritten hash no longer verifies.
    const { rows: heads } = await suite.db.query<{ hash: Uint8Array }>(
      'SELECT hash FROM audit_heads WHERE org_id = $1',
      [rehashed],
    );
    await asSuperuser(suite.db, (tx) =>
      tx.query('UPDATE audit_checkpoints SET hash = $3 WHERE org_id = $1 AND key_id = $2', [
        rehashed,
        key.id,
        heads[0]!.hash,
      ]),
    );
    const forged = breakOf(await verifyAudit(suite.db, { checkpointKeys: trusted }), rehashed);
    assert.equal(forged?.reason, 'checkpoint_invalid');
    assert.match(forged.detail, new RegExp(`does not verify with key ${key.id}: it was forged or altered`));

    // So the attacker deletes the checkpoints too: the auditor's file still names every one.
    await asSuperuser(suite.db, (tx) => tx.query('DELETE FROM audit_checkpoints'));
    checkAll(await verifyAudit(suite.db, { checkpointKeys: trusted, checkpoints: file }), /the given file/);
    // One organisation at a time, as its own auditor would.
    const alone = await verifyAudit(suite.db, { orgId: rehashed, checkpoints: file });
    assert.ok(!alone.ok);
    assert.deepEqual([alone.reason, alone.seq, alone.breaks.length], ['rewritten', 6, 1]);

    // A line of the file that was changed does not verify either.
    const edited = file.map((c) => (c.orgId === cut ? { ...c, seq: 3, hash: Buffer.alloc(32) } : c));
    assert.equal(
      breakOf(await verifyAudit(suite.db, { orgId: cut, checkpoints: edited }), cut)?.reason,
      'checkpoint_invalid',
    );
  });

  test('a file that is not checkpoints is refused, naming the line', () => {
    const good = {
      format: CHECKPOINT_FORMAT,
      org_id: '00000000-0000-0000-0000-000000000000',
      seq: 1,
      hash: '00'.repeat(32),
      signed_at: '2026-05-01T08:00:00.000Z',
      key_id: key.id,
      signature: Buffer.alloc(64).toString('base64'),
      public_key: key.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    };
    assert.equal(parseCheckpoints(`${JSON.stringify(good)}\n\n`).length, 1);
    const cases: [unknown, RegExp][] = [
      ['{not json', /not JSON/],
      [{ ...good, format: 'v0' }, /format must be/],
      [{ ...good, org_id: 'ORG' }, /org_id/],
      [{ ...good, seq: 0 }, /seq/],
      [{ ...good, seq: 2 ** 53 }, /seq/],
      [{ ...good, hash: 'ab' }, /hash/],
      [{ ...good, signed_at: '2026-05-01T08:00:00Z' }, /signed_at/],
      [{ ...good, public_key: 'AAAA' }, /public_key is not a public key/],
      [{ ...good, key_id: 'ab'.repeat(32) }, /key_id is not the SHA-256 of public_key/],
    ];
    for (const [line, message] of cases) {
      const text = `${JSON.stringify(good)}\n${typeof line === 'string' ? line : JSON.stringify(line)}`;
      assert.throws(
        () => parseCheckpoints(text),
        (err: unknown) =>
          err instanceof SealpostError &&
          err.status === 400 &&
          /^Line 2 of the checkpoints/.test(err.message) &&
          message.test(err.message),
        String(message),
      );
    }
  });
});
