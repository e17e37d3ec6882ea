import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { AuditEvent } from '../../src/audit/index.ts';
import { EVENT_TYPE_NAMES, publicEvent } from '../../src/events/index.ts';

// The public projection of audit events: only listed types, only listed fields.

const audit = (over: Partial<AuditEvent>): AuditEvent => ({
  orgId: '11111111-1111-4111-8111-111111111111',
  seq: 7,
  eventId: '22222222-2222-4222-8222-222222222222',
  occurredAt: new Date('2026-11-23T10:00:00.000Z'),
  actor: { type: 'api_key', id: 'k1', label: 'spk_k1' },
  action: 'message.delivered',
  objectType: 'message',
  objectId: '33333333-3333-4333-8333-333333333333',
  outcome: 'success',
  ip: '203.0.113.9',
  requestId: 'req-1',
  details: {},
  prevHash: Buffer.alloc(32),
  hash: Buffer.alloc(32),
  ...over,
});

test('an audit event of a public type becomes a public event with only the fields its type lists', () => {
  const event = publicEvent(
    audit({
      details: {
        recipient_id: '44444444-4444-4444-8444-444444444444',
        method: 'tls',
        attempt: 1,
        tls_version: 'TLSv1.3',
        // Not listed for the type: never copied, whatever it holds.
        address: 'pat@example.net',
        response: '250 2.0.0 OK pat@example.net',
      },
    }),
  );
  assert.deepEqual(event, {
    id: '22222222-2222-4222-8222-222222222222',
    type: 'message.delivered',
    occurred_at: '2026-11-23T10:00:00.000Z',
    message_id: '33333333-3333-4333-8333-333333333333',
    recipient_id: '44444444-4444-4444-8444-444444444444',
    data: { method: 'tls', attempt: 1, tls_version: 'TLSv1.3' },
  });
  const text = JSON.stringify(event);
  for (const hidden of ['pat@example.net', '203.0.113.9', 'spk_k1', '11111111-1111'])
    assert.ok(!text.includes(hidden), hidden);
});

test('other actions are not public events; odd ids are not passed on', () => {
  assert.equal(publicEvent(audit({ action: 'api_key.created' })), null);
  assert.equal(publicEvent(audit({ action: 'constructor' })), null);
  const e = publicEvent(
    audit({ action: 'portal.viewed', details: { recipient_id: 'not-a-uuid', first: true } }),
  );
  assert.equal(e!.recipient_id, null);
  assert.deepEqual(e!.data, { first: true });
  assert.equal(publicEvent(audit({ objectType: 'domain' }))!.message_id, null);
});

test('docs/webhooks.md names every event type', () => {
  const doc = readFileSync(new URL('../../docs/webhooks.md', import.meta.url), 'utf8');
  for (const type of EVENT_TYPE_NAMES)
    assert.ok(doc.includes(`| \`${type}\``), `docs/webhooks.md lacks ${type}`);
});
