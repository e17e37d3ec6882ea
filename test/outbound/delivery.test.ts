import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { Outbound, type SendOutcome, type SendRequest } from '../../src/outbound/index.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';

const PHI = 'PHI-MARKER-7f3a';

function message(body = `Results for MRN 12345: ${PHI}`): Buffer {
  return Buffer.from(
    ['From: clinic@sender.test', 'To: patient@example.test', 'Subject: Results', '', body, ''].join('\r\n'),
  );
}

function request(domain: string, tls: SendRequest['tls'], to = [`patient@${domain}`]): SendRequest {
  return { domain, from: 'clinic@sender.test', to, raw: message(), tls };
}

/** Narrows an outcome to one status, failing with the whole outcome when it is another. */
function expect<S extends SendOutcome['status']>(
  outcome: SendOutcome,
  status: S,
): Extract<SendOutcome, { status: S }> {
  assert.equal(outcome.status, status, JSON.stringify(outcome));
  return outcome as Extract<SendOutcome, { status: S }>;
}

let world: MailWorld;
let outbound: Outbound;

before(async () => {
  world = await startMailWorld();
  world.forbidInClear(PHI);
});
after(async () => {
  await world.close();
});
beforeEach(() => {
  world.reset();
  outbound = new Outbound({ ...world.outboundOptions(), mtaSts: false });
});
afterEach(async () => {
  await outbound.close();
  world.assertNoViolations();
});

describe('enforced TLS', () => {
  test('delivers over verified TLS 1.3 and reports the version and cipher', async () => {
    const raw = message();
    const delivered = expect(await outbound.send({ ...request('tls.test', 'enforced'), raw }), 'delivered');
    assert.equal(delivered.mx, 'mx.tls.test');
    assert.match(delivered.response, /^250 /);
    assert.equal(delivered.tls?.version, 'TLSv1.3');
    assert.match(delivered.tls!.cipher, /^TLS_AES_/);
    assert.deepEqual(delivered.rejected, []);

    const [received] = await world.waitForMessages('tls', 1);
    assert.equal(received!.from, 'clinic@sender.test');
    assert.deepEqual(received!.to, ['patient@tls.test']);
    assert.deepEqual(received!.raw, raw);
    assert.deepEqual(received!.tls, { protocol: 'TLSv1.3', cipher: delivered.tls!.cipher });
    // The certificate was asked for by the MX name, not the address we connected to.
    assert.equal(received!.servername, 'mx.tls.test');
  });

  test('a server that stops at TLS 1.2 is accepted, and says so', async () => {
    const delivered = expect(await outbound.send(request('tls12.test', 'enforced')), 'delivered');
    assert.equal(delivered.tls?.version, 'TLSv1.2');
    assert.match(delivered.tls!.cipher, /^ECDHE-/);
    assert.equal((await world.waitForMessages('tls12', 1))[0]!.tls?.protocol, 'TLSv1.2');
  });

  const failures: [string, string, RegExp][] = [
    ['notls.test', 'notls', /^mx\.notls\.test offers no STARTTLS$/],
    [
      'badcert.test',
      'badcert',
      /^certificate for mx\.badcert\.test is not valid: Hostname\/IP does not match certificate's altnames/,
    ],
    [
      'selfsigned.test',
      'selfsigned',
      /^certificate for mx\.selfsigned\.test is not valid: self-signed certificate$/,
    ],
    ['expired.test', 'expired', /^certificate for mx\.expired\.test is not valid: certificate has expired$/],
    [
      'oldtls.test',
      'oldtls',
      /^mx\.oldtls\.test offers no TLS 1\.2 or newer \(tlsv1 alert protocol version\)$/,
    ],
  ];
  for (const [domain, receiver, reason] of failures) {
    test(`${domain}: tls_failed, and the receiver never saw a transaction`, async () => {
      const failed = expect(await outbound.send(request(domain, 'enforced')), 'tls_failed');
      assert.equal(failed.mx, `mx.${domain}`);
      assert.match(failed.reason, reason);
      const r = world.receiver(receiver);
      assert.equal(r.connections, 1);
      assert.equal(r.transactions, 0, 'no MAIL FROM');
      assert.equal(r.dataTransactions, 0, 'no DATA');
    });
  }

  test('every MX failing TLS gives tls_failed with each reason', async () => {
    world.dns.setMx('twobad.test', [
      { exchange: 'mx.notls.test', priority: 10 },
      { exchange: 'mx.badcert.test', priority: 20 },
    ]);
    const failed = expect(await outbound.send(request('twobad.test', 'enforced')), 'tls_failed');
    assert.equal(failed.mx, 'mx.notls.test');
    assert.match(
      failed.reason,
      /^mx\.notls\.test offers no STARTTLS; certificate for mx\.badcert\.test is not valid/,
    );
  });

  test('one MX failing TLS and another unreachable is deferred, not tls_failed', async () => {
    world.dns.setMx('mixed.test', [
      { exchange: 'mx1.backup.test', priority: 10 },
      { exchange: 'mx.notls.test', priority: 20 },
    ]);
    const deferred = expect(await outbound.send(request('mixed.test', 'enforced')), 'deferred');
    assert.match(deferred.reason, /mx1\.backup\.test \[127\.0\.0\.7\] refused the connection/);
    assert.match(deferred.reason, /mx\.notls\.test offers no STARTTLS/);
    assert.equal(world.receiver('notls').transactions, 0);
  });
});

describe('opportunistic TLS', () => {
  test('delivers in clear to a server without STARTTLS', async () => {
    const raw = message('Your appointment notice: sign in to read it.');
    const delivered = expect(
      await outbound.send({ ...request('notls.test', 'opportunistic'), raw }),
      'delivered',
    );
    assert.equal(delivered.tls, null);
    const [received] = await world.waitForMessages('notls', 1);
    assert.equal(received!.tls, null);
    assert.deepEqual(received!.raw, raw);
  });

  test('uses TLS with a certificate that does not verify', async () => {
    const delivered = expect(await outbound.send(request('badcert.test', 'opportunistic')), 'delivered');
    assert.equal(delivered.tls?.version, 'TLSv1.3');
  });

  test('a failed handshake is retried once in clear', async () => {
    const raw = message('Notice without PHI');
    const delivered = expect(
      await outbound.send({ ...request('oldtls.test', 'opportunistic'), raw }),
      'delivered',
    );
    assert.equal(delivered.tls, null);
    const r = world.receiver('oldtls');
    assert.equal(r.connections, 2);
    assert.equal((await world.waitForMessages('oldtls', 1))[0]!.tls, null);
  });
});

describe('replies', () => {
  test('451 defers; the next attempt delivers', async () => {
    world.setFlaky(1);
    const deferred = expect(await outbound.send(request('flaky.test', 'enforced')), 'deferred');
    assert.equal(deferred.mx, 'mx.flaky.test');
    assert.equal(deferred.code, 451);
    assert.match(deferred.response!, /^451 4\.3\.0 /);
    expect(await outbound.send(request('flaky.test', 'enforced')), 'delivered');
    assert.equal((await world.waitForMessages('flaky', 1)).length, 1);
  });

  test('550 to every recipient bounces', async () => {
    const bounced = expect(await outbound.send(request('reject.test', 'enforced')), 'bounced');
    assert.equal(bounced.mx, 'mx.reject.test');
    assert.equal(bounced.code, 550);
    assert.match(bounced.response, /^550 5\.1\.1 /);
    assert.deepEqual(
      bounced.rejected?.map((r) => [r.address, r.code]),
      [['patient@reject.test', 550]],
    );
    assert.equal(world.receiver('reject').dataTransactions, 0);
  });

  test('some recipients refused: the others get the message and the refused are listed', async () => {
    const to = ['ann@tls.test', 'unknown.bob@tls.test', 'busy.cy@tls.test', 'dee@tls.test'];
    const delivered = expect(await outbound.send(request('tls.test', 'enforced', to)), 'delivered');
    assert.deepEqual(
      delivered.rejected.map((r) => [r.address, r.code]),
      [
        ['unknown.bob@tls.test', 550],
        ['busy.cy@tls.test', 450],
      ],
    );
    assert.match(delivered.rejected[0]!.response, /^550 5\.1\.1 /);
    assert.deepEqual((await world.waitForMessages('tls', 1))[0]!.to, ['ann@tls.test', 'dee@tls.test']);
  });

  test('4xx to every recipient defers, listing each refusal', async () => {
    const to = ['busy.a@tls.test', 'unknown.b@tls.test'];
    const deferred = expect(await outbound.send(request('tls.test', 'enforced', to)), 'deferred');
    assert.equal(deferred.code, 450);
    assert.deepEqual(
      deferred.rejected?.map((r) => r.code),
      [450, 550],
    );
  });

  test('5xx at MAIL FROM bounces', async () => {
    const bounced = expect(
      await outbound.send({ ...request('tls.test', 'enforced'), from: 'blocked@sender.test' }),
      'bounced',
    );
    assert.equal(bounced.code, 550);
    assert.match(bounced.response, /^550 5\.7\.1 /);
  });

  test('5xx after DATA bounces; the connection stays usable', async () => {
    world.receiver('tls').failNext(1, { code: 554, message: '5.6.0 Content refused' });
    const bounced = expect(await outbound.send(request('tls.test', 'enforced')), 'bounced');
    assert.equal(bounced.code, 554);
    expect(await outbound.send(request('tls.test', 'enforced')), 'delivered');
    assert.equal(world.receiver('tls').connections, 1);
  });
});

describe('routing', () => {
  test('an unreachable first MX is skipped for the second', async () => {
    const delivered = expect(await outbound.send(request('backup.test', 'enforced')), 'delivered');
    assert.equal(delivered.mx, 'mx2.backup.test');
    assert.equal((await world.waitForMessages('tls', 1))[0]!.servername, 'mx2.backup.test');
  });

  test('a domain without MX gets mail at its own address (implicit MX)', async () => {
    const delivered = expect(await outbound.send(request('aonly.test', 'enforced')), 'delivered');
    assert.equal(delivered.mx, 'aonly.test');
    assert.equal(delivered.tls?.version, 'TLSv1.3');
  });

  test('a null MX bounces without connecting anywhere', async () => {
    const bounced = expect(await outbound.send(request('nullmx.test', 'enforced')), 'bounced');
    assert.equal(bounced.code, 556);
    assert.equal(bounced.response, '556 5.1.10 nullmx.test accepts no mail (null MX)');
  });

  test('a domain that does not exist bounces', async () => {
    const bounced = expect(await outbound.send(request('nowhere.test', 'enforced')), 'bounced');
    assert.equal(bounced.code, 550);
    assert.match(bounced.response, /NXDOMAIN/);
  });

  test('DNS failing defers', async () => {
    const deferred = expect(await outbound.send(request('servfail.test', 'enforced')), 'deferred');
    assert.equal(deferred.mx, null);
    assert.match(deferred.reason, /ESERVFAIL/);
  });

  test('an MX host without an address is skipped; none left defers', async () => {
    world.dns.setMx('ghost.test', [{ exchange: 'mx.ghost.test', priority: 10 }]);
    const deferred = expect(await outbound.send(request('ghost.test', 'enforced')), 'deferred');
    assert.equal(deferred.reason, 'mx.ghost.test: no address');
  });

  test('sends to one domain share one lookup, kept for routeCacheMs', async () => {
    let clock = 0;
    const cached = new Outbound({ ...world.outboundOptions(), mtaSts: false }, { now: () => clock });
    try {
      world.addDomain('popular.test', 'tls');
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, () => cached.send(request('popular.test', 'enforced'))),
      );
      assert.ok(outcomes.every((o) => o.status === 'delivered'));
      assert.equal(world.dns.queries('popular.test', 'MX'), 1);
      assert.equal(world.dns.queries('mx.popular.test', 'A'), 1);
      clock += 61_000;
      await cached.send(request('popular.test', 'enforced'));
      assert.equal(world.dns.queries('popular.test', 'MX'), 2);
    } finally {
      await cached.close();
    }
  });

  test('resolveMx sorts by preference and resolves each host', async () => {
    world.dns.setMx('order.test', [
      { exchange: 'mx.notls.test', priority: 30 },
      { exchange: 'mx.tls.test', priority: 10 },
      { exchange: 'mx2.backup.test', priority: 10 },
    ]);
    const hosts = await outbound.resolveMx('order.test');
    assert.deepEqual(
      hosts.map((h) => h.priority),
      [10, 10, 30],
    );
    assert.deepEqual(hosts.map((h) => h.exchange).sort(), [
      'mx.notls.test',
      'mx.tls.test',
      'mx2.backup.test',
    ]);
    assert.deepEqual(hosts[2], { exchange: 'mx.notls.test', priority: 30, addresses: ['127.0.0.3'] });
  });
});
