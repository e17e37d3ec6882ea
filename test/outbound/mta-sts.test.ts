import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createLogger } from '../../src/log/index.ts';
import { Outbound, type SendOutcome, type SendRequest } from '../../src/outbound/index.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';

const MINUTE = 60_000;

let world: MailWorld;
let clock: number;

before(async () => {
  world = await startMailWorld();
});
after(async () => {
  await world.close();
});
beforeEach(() => {
  world.reset();
  clock = Date.UTC(2026, 10, 20);
});

function outbound(t: { after(fn: () => Promise<void>): void }): Outbound {
  const out = new Outbound(world.outboundOptions(), { now: () => clock });
  t.after(() => out.close());
  return out;
}

function request(domain: string, tls: SendRequest['tls'] = 'opportunistic'): SendRequest {
  const raw = Buffer.from(
    'From: clinic@sender.test\r\nSubject: Notice\r\n\r\nSign in to read your message.\r\n',
  );
  return { domain, from: 'clinic@sender.test', to: [`patient@${domain}`], raw, tls };
}

function status(outcome: SendOutcome): string {
  return outcome.status === 'tls_failed' ? `tls_failed: ${outcome.reason}` : outcome.status;
}

test('an enforce policy naming the MX: delivered over verified TLS, the policy fetched once', async (t) => {
  world.addDomain('sts-ok.test', 'tls');
  world.setMtaSts('sts-ok.test', { mode: 'enforce', mx: ['mx.sts-ok.test'] });
  const out = outbound(t);
  const first = await out.send(request('sts-ok.test'));
  assert.equal(status(first), 'delivered');
  assert.equal(first.status === 'delivered' && first.tls?.version, 'TLSv1.3');
  assert.equal((await out.send(request('sts-ok.test'))).status, 'delivered');
  assert.equal(world.mtaStsFetches('sts-ok.test'), 1);
});

test('an enforce policy turns opportunistic mail to a bad certificate into tls_failed', async (t) => {
  world.addDomain('sts-badcert.test', 'badcert');
  const out = outbound(t);
  // Without a policy, opportunistic TLS takes the certificate as it is.
  assert.equal((await out.send(request('sts-badcert.test'))).status, 'delivered');

  world.addDomain('sts-badcert2.test', 'badcert');
  world.setMtaSts('sts-badcert2.test', { mode: 'enforce', mx: ['mx.sts-badcert2.test'] });
  world.reset();
  assert.match(
    status(await out.send(request('sts-badcert2.test'))),
    /^tls_failed: certificate for mx\.sts-badcert2\.test/,
  );
  assert.equal(world.receiver('badcert').transactions, 0);
});

test('an enforce policy that names none of the MX hosts: tls_failed, nothing contacted', async (t) => {
  world.addDomain('sts-other.test', 'tls');
  world.setMtaSts('sts-other.test', { mode: 'enforce', mx: ['*.elsewhere.test'] });
  const outcome = await outbound(t).send(request('sts-other.test', 'enforced'));
  assert.equal(status(outcome), 'tls_failed: no MX host of sts-other.test matches its MTA-STS policy');
  assert.equal(world.receiver('tls').connections, 0);
});

test('an enforce policy skips MX hosts it does not name', async (t) => {
  world.setMtaSts('backup.test', { mode: 'enforce', mx: ['mx2.backup.test'] });
  t.after(() => world.setMtaSts('backup.test', null));
  const outcome = await outbound(t).send(request('backup.test', 'enforced'));
  assert.equal(outcome.status === 'delivered' && outcome.mx, 'mx2.backup.test');
});

test('a testing policy changes nothing', async (t) => {
  world.addDomain('sts-testing.test', 'badcert');
  world.setMtaSts('sts-testing.test', { mode: 'testing', mx: ['mx.sts-testing.test'] });
  assert.equal((await outbound(t).send(request('sts-testing.test'))).status, 'delivered');
  assert.equal(world.mtaStsFetches('sts-testing.test'), 1);
});

test('a cached policy outlives its TXT record and policy host until max_age runs out', async (t) => {
  world.addDomain('sts-gone.test', 'badcert');
  world.setMtaSts('sts-gone.test', { mode: 'enforce', mx: ['mx.sts-gone.test'], maxAge: 3600 });
  const out = outbound(t);
  assert.match(status(await out.send(request('sts-gone.test'))), /^tls_failed/);

  world.setMtaSts('sts-gone.test', null);
  clock += 30 * MINUTE;
  assert.match(status(await out.send(request('sts-gone.test'))), /^tls_failed/, 'still enforced');
  assert.ok(world.dns.queries('_mta-sts.sts-gone.test', 'TXT') >= 2, 'DNS was asked again');

  clock += 60 * MINUTE;
  assert.equal((await out.send(request('sts-gone.test'))).status, 'delivered', 'expired');
});

test('a policy is fetched again only when its id changes', async (t) => {
  world.addDomain('sts-id.test', 'tls');
  world.setMtaSts('sts-id.test', { mode: 'enforce', mx: ['mx.sts-id.test'], id: 'one' });
  const out = outbound(t);
  await out.send(request('sts-id.test'));
  clock += 10 * MINUTE;
  await out.send(request('sts-id.test'));
  assert.equal(world.mtaStsFetches('sts-id.test'), 1);
  assert.equal(world.dns.queries('_mta-sts.sts-id.test', 'TXT'), 2);

  world.setMtaSts('sts-id.test', { mode: 'enforce', mx: ['*.elsewhere.test'], id: 'two' });
  await out.send(request('sts-id.test'));
  assert.equal(world.mtaStsFetches('sts-id.test'), 1, 'DNS is not asked again within five minutes');
  clock += 10 * MINUTE;
  assert.match(status(await out.send(request('sts-id.test'))), /matches its MTA-STS policy/);
  assert.equal(world.mtaStsFetches('sts-id.test'), 2);
});

test('a policy host on a private address outside the allowed ranges is never fetched, and the refusal is logged', async (t) => {
  // An enforce policy that names no MX host: fetched, it would stop the mail (tls_failed).
  world.addDomain('sts-inside.test', 'tls');
  world.setMtaSts('sts-inside.test', { mode: 'enforce', mx: ['*.elsewhere.test'] });
  const logged: { msg: string; domain: string; reason: string }[] = [];
  const log = createLogger('warn', { write: (line: string) => void logged.push(JSON.parse(line)) });
  // The operator allows one partner host, not the policy host's address (127.0.0.30).
  const out = new Outbound(
    { ...world.outboundOptions(), privateRanges: ['127.0.0.2/32'] },
    { now: () => clock, log },
  );
  t.after(() => out.close());
  assert.equal(status(await out.send(request('sts-inside.test'))), 'delivered');
  assert.equal(world.mtaStsFetches('sts-inside.test'), 0);
  assert.deepEqual(
    logged.map((l) => [l.msg, l.domain]),
    [['MTA-STS policy host refused; no policy', 'sts-inside.test']],
  );
  assert.match(logged[0]!.reason, /mta-sts\.sts-inside\.test resolves to 127\.0\.0\.30, a private address/);
});
