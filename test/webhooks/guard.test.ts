import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_RETRY_SCHEDULE,
  describeSchedule,
  parseRetrySchedule,
  resolveTarget,
  TargetRefused,
} from '../../src/webhooks/index.ts';

// Where webhooks may go: URL rules (addresses: test/net-guard) and the retry schedule, without a network.

const strict = { allowHttp: false, allowPrivate: false };
const lenient = { allowHttp: true, allowPrivate: true };

test('URLs: https only unless http is allowed; no credentials; refused addresses named', async () => {
  const none = async () => [] as string[];
  const refused = async (url: string, policy = strict, resolve = none) => {
    try {
      await resolveTarget(url, policy, resolve);
    } catch (err) {
      assert.ok(err instanceof TargetRefused, String(err));
      return err;
    }
    assert.fail(`${url} was accepted`);
  };
  assert.equal((await refused('http://93.184.215.14/hook')).code, 'webhook_url_invalid');
  assert.equal((await refused('ftp://93.184.215.14/hook', lenient)).code, 'webhook_url_invalid');
  assert.equal((await refused('https://user:pw@93.184.215.14/')).code, 'webhook_url_invalid');
  assert.equal((await refused('not a url')).code, 'webhook_url_invalid');
  for (const url of [
    'https://127.0.0.1/',
    'https://[::1]:8443/',
    'https://10.0.0.1/',
    'https://169.254.169.254/latest/meta-data',
    'https://[::ffff:127.0.0.1]/',
    'https://0x7f.1/', // WHATWG URL parsing makes this 127.0.0.1
    'https://2130706433/',
  ])
    assert.equal((await refused(url)).code, 'webhook_url_forbidden', url);
  // A name is judged by every address it resolves to: one private answer refuses it.
  const mixed = async () => ['93.184.215.14', '10.0.0.7'];
  assert.match((await refused('https://hooks.example/', strict, mixed)).message, /10\.0\.0\.7/);
  const failing = async () => {
    throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  };
  assert.equal((await refused('https://nowhere.example/', strict, failing)).code, 'webhook_url_unresolvable');
  // Reserved addresses stay refused even where private ones are allowed.
  assert.equal((await refused('https://224.0.0.1/', lenient)).code, 'webhook_url_forbidden');

  const target = await resolveTarget('https://hooks.example:8443/in?x=1#frag', strict, async () => [
    '2606:4700::1111',
  ]);
  assert.deepEqual(
    { host: target.hostname, port: target.port, address: target.address, family: target.family },
    { host: 'hooks.example', port: 8443, address: '2606:4700::1111', family: 6 },
  );
  assert.equal(target.url.hash, '');
  const local = await resolveTarget('http://127.0.0.1:9000/', lenient, none);
  assert.equal(local.address, '127.0.0.1');
});

test('the retry schedule: units, bounds, and a default of over three days', () => {
  assert.deepEqual(parseRetrySchedule('5s, 5m,2h ,1d'), [5, 300, 7200, 86_400]);
  for (const bad of ['', '5', '5x', '0s', '8d', '-1s'])
    assert.throws(() => parseRetrySchedule(bad), Error, bad);
  const schedule = parseRetrySchedule(DEFAULT_RETRY_SCHEDULE);
  const total = schedule.reduce((a, b) => a + b, 0);
  assert.ok(total >= 3 * 86_400, `retried over ${total} s`);
  assert.equal(schedule.length + 1, 11);
  assert.equal(describeSchedule(schedule), '3 d 13 h 35 min');
});
