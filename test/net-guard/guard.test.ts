import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AddressRanges,
  addressRefusal,
  classifyAddress,
  guardHost,
  HostRefused,
} from '../../src/net-guard/index.ts';

// Where Sealpost's own requests may go (webhooks, Web Key Directories, MTA-STS), without a network.

test('addresses: public ones pass; private, loopback, link-local, CGNAT, reserved and their IPv6 forms do not', () => {
  const table: [string, 'public' | 'private' | 'reserved'][] = [
    ['93.184.215.14', 'public'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['127.0.0.1', 'private'],
    ['127.255.255.254', 'private'],
    ['10.20.30.40', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'private'],
    ['100.64.0.1', 'private'],
    ['0.0.0.0', 'reserved'],
    ['224.0.0.251', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['2606:4700::1111', 'public'],
    ['::1', 'private'],
    ['::', 'reserved'],
    ['fe80::1', 'private'],
    ['fd00::1', 'private'],
    ['ff02::1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['::ffff:127.0.0.1', 'private'],
    ['::ffff:7f00:1', 'private'],
    ['::ffff:a9fe:a9fe', 'private'],
    ['::ffff:93.184.215.14', 'public'],
    ['::127.0.0.1', 'private'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['2002:c0a8:101::1', 'private'],
  ];
  for (const [address, kind] of table) assert.equal(classifyAddress(address), kind, address);
});

test('allowed private ranges let exactly those through; reserved addresses never', () => {
  assert.throws(() => AddressRanges.parse(['10.0.0.0/33']), /not an address range/);
  assert.throws(() => AddressRanges.parse(['example.net']), /not an address range/);
  const partner = { allowPrivate: AddressRanges.parse(['10.20.0.0/16', 'fd00:1::/32', '127.0.0.1']) };
  for (const allowed of ['10.20.3.4', '::ffff:10.20.3.4', 'fd00:1::25', '127.0.0.1', '93.184.215.14'])
    assert.equal(addressRefusal(allowed, partner), null, allowed);
  for (const refused of ['10.21.0.1', '127.0.0.2', '::1', '169.254.169.254', 'fd00:2::1'])
    assert.match(addressRefusal(refused, partner)!, /a private address/, refused);
  const everything = { allowPrivate: AddressRanges.parse(['0.0.0.0/0', '::/0']) };
  assert.match(addressRefusal('224.0.0.1', everything)!, /reserved/);
  assert.match(addressRefusal('192.0.2.1', { allowPrivate: true })!, /reserved/);
});

test('sandbox mode: only loopback, and only where loopback is allowed', () => {
  const sandbox = { allowPrivate: true, loopbackOnly: true };
  assert.equal(addressRefusal('127.0.0.1', sandbox), null);
  assert.equal(addressRefusal('::1', sandbox), null);
  assert.equal(addressRefusal('::ffff:127.0.0.1', sandbox), null);
  for (const away of ['93.184.215.14', '10.0.0.1', '2606:4700::1111'])
    assert.match(addressRefusal(away, sandbox)!, /in sandbox mode nothing leaves/, away);
  assert.match(addressRefusal('127.0.0.1', { allowPrivate: false, loopbackOnly: true })!, /private/);
});

test('a host is resolved once and judged by every address it has', async () => {
  const policy = { allowPrivate: false };
  let asked = 0;
  const answers = (list: string[]) => async () => (asked++, list);
  assert.deepEqual(await guardHost('hooks.example', policy, answers(['93.184.215.14', '2606:4700::1111'])), [
    '93.184.215.14',
    '2606:4700::1111',
  ]);
  assert.equal(asked, 1);
  const refused = await guardHost('hooks.example', policy, answers(['93.184.215.14', '10.0.0.7'])).catch(
    (e: unknown) => e,
  );
  assert.ok(refused instanceof HostRefused);
  assert.equal(refused.code, 'forbidden');
  assert.equal(
    refused.message,
    'The host hooks.example resolves to 10.0.0.7, a private address that may not be reached.',
  );
  const missing = await guardHost('nowhere.example', policy, async () => {
    throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  }).catch((e: unknown) => e);
  assert.ok(missing instanceof HostRefused);
  assert.deepEqual([missing.code, missing.dnsCode], ['unresolvable', 'ENOTFOUND']);
  // An address literal is judged as it is, without DNS.
  assert.deepEqual(await guardHost('[2606:4700::1111]', policy, answers([])), ['2606:4700::1111']);
  assert.equal(asked, 2);
});
