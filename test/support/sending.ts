// A sending domain made verified the way a customer does it: add it, publish its records in the
// test DNS, ask Sealpost to verify.
import assert from 'node:assert/strict';
import type { TestServer } from './app.ts';

export interface PublishingDns {
  setTxt(name: string, values: string[]): void;
}

export async function verifiedDomain(server: TestServer, dns: PublishingDns, token: string, domain: string) {
  const added = await server.request('POST', '/v1/domains', { token, body: { domain } });
  assert.equal(added.status, 201, added.text);
  for (const record of added.body.records as { name: string; value: string; required: boolean }[])
    if (record.required) dns.setTxt(record.name, [record.value]);
  const verified = await server.request('POST', `/v1/domains/${domain}/verify`, { token });
  assert.equal(verified.body.status, 'verified', verified.text);
  return verified.body as { records: { name: string; value: string; purpose: string }[] };
}

const FINAL = new Set(['delivered', 'bounced', 'failed', 'portal_notified', 'expired', 'revoked']);

/** Polls a message until every recipient is in a final state; returns the recipients then. */
export async function settle<R extends { state: string }>(
  server: TestServer,
  token: string,
  messageId: string,
  timeoutMs = 30_000,
): Promise<R[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await server.request('GET', `/v1/messages/${messageId}`, { token });
    const recipients = res.body.recipients as R[];
    if (recipients.every((r) => FINAL.has(r.state))) return recipients;
    if (Date.now() > until) assert.fail(`not settled: ${JSON.stringify(recipients.map((r) => r.state))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
