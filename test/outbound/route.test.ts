import assert from 'node:assert/strict';
import { test } from 'node:test';
import { orderMx } from '../../src/outbound/index.ts';
import { mxMatches, parsePolicy } from '../../src/outbound/mta-sts.ts';

const records = [
  { exchange: 'c', priority: 20 },
  { exchange: 'a', priority: 10 },
  { exchange: 'd', priority: 30 },
  { exchange: 'b', priority: 10 },
  { exchange: 'e', priority: 20 },
];

test('MX hosts come in order of preference', () => {
  for (const random of [() => 0, () => 0.5, () => 0.999]) {
    assert.deepEqual(
      orderMx(records, random).map((r) => r.priority),
      [10, 10, 20, 20, 30],
    );
  }
  assert.deepEqual(records[0], { exchange: 'c', priority: 20 }, 'the input is left alone');
});

test('hosts of equal preference are shuffled', () => {
  const firsts = new Set<string>();
  let seed = 1;
  // A small deterministic generator, so the test never depends on luck.
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  for (let i = 0; i < 50; i++) firsts.add(orderMx(records, random)[0]!.exchange);
  assert.deepEqual([...firsts].sort(), ['a', 'b']);
});

test('MTA-STS policy files parse; bad ones are refused', () => {
  const text =
    'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.example.test\r\nmax_age: 604800\r\n';
  const policy = parsePolicy(text, 'abc');
  assert.deepEqual(policy, {
    id: 'abc',
    mode: 'enforce',
    mx: ['mx1.example.test', '*.example.test'],
    maxAge: 604800,
  });
  assert.equal(parsePolicy(text.replace('STSv1', 'STSv2'), 'abc'), null);
  assert.equal(parsePolicy(text.replace('enforce', 'strict'), 'abc'), null);
  assert.equal(parsePolicy('version: STSv1\nmode: enforce\nmax_age: 1\n', 'abc'), null, 'enforce needs mx');
  assert.equal(parsePolicy('version: STSv1\nmode: none\nmax_age: 99999999999\n', 'x')?.maxAge, 31_557_600);

  assert.ok(mxMatches(policy!, 'mx1.example.test'));
  assert.ok(mxMatches(policy!, 'MX2.Example.Test.'));
  assert.ok(!mxMatches(policy!, 'a.b.example.test'), 'a wildcard covers one label');
  assert.ok(!mxMatches(policy!, 'example.test'));
  assert.ok(!mxMatches(policy!, 'mx1.example.test.evil.test'));
  assert.ok(!mxMatches({ ...policy!, mx: ['*.localhost'] }, 'localhost'));
});
