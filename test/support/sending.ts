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
