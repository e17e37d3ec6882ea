import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { App } from '../../src/app/index.ts';
import { SYSTEM_ORG_ID } from '../../src/audit/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { deriveSigningKey, loadMasterKeys } from '../../src/crypto/index.ts';
import { describeEachDb } from '../support/db.ts';

describeEachDb('the worker role', (suite) => {
  /** A worker-only App on this suite's database, with a master key of its own. */
  async function startWorker() {
    const config = loadConfig({
      SEALPOST_DATA_DIR: mkdtempSync(join(tmpdir(), 'sealpost-worker-')),
      SEALPOST_MASTER_KEY: randomBytes(32).toString('base64'),
      SEALPOST_LOG_LEVEL: 'silent',
    });
    const app = await App.create(config, suite.db, loadMasterKeys(config));
    await app.start(['worker']);
    return { app, config };
  }

  test('schedules the nightly audit verification, records its result, and reports its queues as metrics', async () => {
    const { app } = await startWorker();
    try {
      const schedules = await app.queue.boss.getSchedules('audit.verify');
      assert.equal(schedules[0]?.cron, '17 3 * * *');

      await app.initOrganization({
        name: 'Night Clinic',
        adminEmail: 'it@night.example',
        actor: { type: 'system', id: 'test', label: 'test' },
      });
      const result = await app.verifyAuditTrail();
      assert.equal(result.ok, true);
      const { rows } = await suite.db.query<{ action: string; outcome: string; details: { events: number } }>(
        "SELECT action, outcome, details FROM audit_events WHERE org_id = $1 AND action = 'audit.verified'",
        [SYSTEM_ORG_ID],
      );
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.outcome, 'success');
      assert.ok(rows[0]!.details.events >= 3);

      const metrics = await app.metrics.registry.metrics();
      assert.match(metrics, /sealpost_queue_jobs\{queue="audit\.verify",state="queued"\} \d+/);
      assert.match(metrics, /sealpost_queue_oldest_active_seconds\{queue="audit\.verify"\} \d+/);
      // The delivery queue is counted from message_recipients, beside pg-boss's queues.
      assert.match(metrics, /sealpost_queue_jobs\{queue="secureline\.deliver",state="queued"\} 0/);
    } finally {
      await app.stopServices({ queueTimeoutMs: 2000 });
    }
  });

  test("signs the audit chains' heads when it stops, with the key derived from the master key", async () => {
    const { app, config } = await startWorker();
    const org = await app.initOrganization({
      name: 'Checkpoint Clinic',
      adminEmail: 'it@checkpoint.example',
      actor: { type: 'system', id: 'test', label: 'test' },
    });
    await app.stopServices({ queueTimeoutMs: 2000 });
    const { signing } = app.auditSigningKeys();
    assert.equal(signing.id, deriveSigningKey(Buffer.from(config.masterKey!, 'base64')).id);
    const { rows } = await suite.db.query<{ seq: string; key_id: string }>(
      'SELECT seq, key_id FROM audit_checkpoints WHERE org_id = $1',
      [org.org_id],
    );
    assert.deepEqual(
      rows.map((r) => [Number(r.seq), r.key_id]),
      [[3, signing.id]],
    );
    const verified = await app.verifyAudit({ orgId: org.org_id });
    assert.equal(verified.checkpoints.checked, 1);
    // Nothing moved since: nothing more to sign.
    assert.equal((await app.writeAuditCheckpoints()).written, 0);
  });
});
