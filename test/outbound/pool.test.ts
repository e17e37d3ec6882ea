import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, test } from 'node:test';
import { Outbound, type OutboundOptions, type SendRequest } from '../../src/outbound/index.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';

let world: MailWorld;

before(async () => {
  world = await startMailWorld();
});
after(async () => {
  await world.close();
});
beforeEach(() => world.reset());

function request(n: number, tls: SendRequest['tls'] = 'enforced'): SendRequest {
  const raw = Buffer.from(`From: clinic@sender.test\r\nSubject: ${n}\r\n\r\nmessage ${n}\r\n`);
  return { domain: 'tls.test', from: 'clinic@sender.test', to: [`p${n}@tls.test`], raw, tls };
}

/** An Outbound on the world, closed when the test ends. */
function outbound(
  t: { after(fn: () => Promise<void>): void },
  options: Partial<OutboundOptions> = {},
): Outbound {
  const out = new Outbound({ ...world.outboundOptions(), mtaSts: false, ...options });
  t.after(() => out.close());
  return out;
}

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

test('50 concurrent sends share at most maxConnectionsPerHost connections', async (t) => {
  const out = outbound(t, { maxConnectionsPerHost: 3 });
  const outcomes = await Promise.all(Array.from({ length: 50 }, (_, n) => out.send(request(n))));
  assert.ok(outcomes.every((o) => o.status === 'delivered'));
  const tls = world.receiver('tls');
  assert.equal((await world.waitForMessages('tls', 50)).length, 50);
  assert.ok(tls.connections <= 3, `${tls.connections} connections`);
  assert.ok(tls.maxOpenConnections <= 3);
});

test('sequential sends reuse one connection', async (t) => {
  const out = outbound(t);
  for (let n = 0; n < 10; n++) assert.equal((await out.send(request(n))).status, 'delivered');
  assert.equal(world.receiver('tls').connections, 1);
});

test('a connection is retired after maxMessagesPerConnection messages', async (t) => {
  const out = outbound(t, { maxMessagesPerConnection: 5 });
  for (let n = 0; n < 12; n++) assert.equal((await out.send(request(n))).status, 'delivered');
  assert.equal(world.receiver('tls').connections, 3);
});

test('enforced and opportunistic mail do not share connections', async (t) => {
  const out = outbound(t);
  await out.send(request(1, 'opportunistic'));
  await out.send(request(2, 'enforced'));
  await out.send(request(3, 'enforced'));
  assert.equal(world.receiver('tls').connections, 2);
});

test('an idle connection is closed after idleTimeoutMs', async (t) => {
  const out = outbound(t, { idleTimeoutMs: 100 });
  await out.send(request(1));
  assert.equal(world.receiver('tls').openConnections, 1);
  await until(() => world.receiver('tls').openConnections === 0);
});

test('a pooled connection the server dropped is replaced without failing the send', async (t) => {
  // The server drops the connection the moment the address lookups of the next send are done,
  // so the client has not seen it go and picks the dead connection: the send has to notice and
  // start over on a new one.
  const resolver = new Resolver();
  resolver.setServers([world.dnsServer]);
  let lookups = 0;
  let armed = false;
  const afterLookup = async <T>(lookup: Promise<T>): Promise<T> => {
    try {
      return await lookup;
    } finally {
      if (++lookups % 2 === 0 && armed) {
        armed = false;
        world.receiver('tls').dropConnections();
      }
    }
  };
  const dropping = new Proxy(resolver, {
    get(target, property: keyof Resolver) {
      if (property === 'resolve4') return (host: string) => afterLookup(target.resolve4(host));
      if (property === 'resolve6') return (host: string) => afterLookup(target.resolve6(host));
      const value = target[property];
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const out = new Outbound(
    { ...world.outboundOptions(), mtaSts: false, routeCacheMs: 0 },
    { resolver: dropping },
  );
  t.after(() => out.close());

  await out.send(request(1));
  armed = true;
  assert.equal((await out.send(request(2))).status, 'delivered');
  assert.equal(armed, false);
  assert.equal(world.receiver('tls').connections, 2);
  assert.equal((await world.waitForMessages('tls', 2)).length, 2);
});

test('a host that cannot be reached fails every waiting send at once', async (t) => {
  const out = outbound(t, { maxConnectionsPerHost: 1 });
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, (_, n) => out.send({ ...request(n), domain: 'notls.test' })),
  );
  assert.ok(outcomes.every((o) => o.status === 'tls_failed'));
  assert.equal(world.receiver('notls').connections, 1);
});

test('a host that refuses more connections gets the mail over the ones it accepted', async (t) => {
  await world.addReceiver('crowded', { maxClients: 2 });
  const out = outbound(t, { maxConnectionsPerHost: 5 });
  const outcomes = await Promise.all(
    Array.from({ length: 30 }, (_, n) => out.send({ ...request(n), domain: 'crowded.test' })),
  );
  assert.deepEqual(new Set(outcomes.map((o) => o.status)), new Set(['delivered']));
  assert.equal((await world.waitForMessages('crowded', 30)).length, 30);
  assert.ok(world.receiver('crowded').maxOpenConnections <= 2);
});

test('close() ends every connection and refuses further sends', async () => {
  const out = new Outbound({ ...world.outboundOptions(), mtaSts: false });
  await Promise.all([1, 2, 3].map((n) => out.send(request(n))));
  assert.ok(world.receiver('tls').openConnections > 0);
  await out.close();
  await until(() => world.receiver('tls').openConnections === 0);
  await assert.rejects(out.send(request(4)), /closed/);
});
