import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SmsError, type SmsMessage, TwilioCompatibleSender } from '../../src/sms/index.ts';
import { INVALID_NUMBER, type SmsCarrier, startSmsCarrier } from '../support/sms-carrier.ts';

const ACCOUNT = 'AC0123456789abcdef0123456789abcdef';
const TOKEN = 'carrier-token-for-tests';
const ORG = '6f1c1a52-4a0e-4f4e-9f35-2f3a4c7d8e90';

const text = (to: string, body = 'Your Sealpost code is 482913'): SmsMessage => ({
  to,
  body,
  context: { orgId: ORG, purpose: 'portal-otp' },
});

/** Asserts an SmsError with this code and retryability. */
const smsError =
  (code: string, retryable: boolean, extra: (err: SmsError) => void = () => {}) =>
  (err: unknown) => {
    assert.ok(err instanceof SmsError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.retryable, retryable, err.message);
    extra(err);
    return true;
  };

describe('twilio-compatible client against the local carrier', () => {
  let carrier: SmsCarrier;
  let sender: TwilioCompatibleSender;

  before(async () => {
    carrier = await startSmsCarrier({ account: ACCOUNT, token: TOKEN });
    sender = new TwilioCompatibleSender({
      apiUrl: carrier.url,
      account: ACCOUNT,
      token: TOKEN,
      from: '+15550100100',
      timeoutMs: 2000,
    });
  });
  after(() => carrier.close());

  test('a text is posted as a form with basic authentication; the sid comes back', async () => {
    const before = carrier.messages.length;
    const result = await sender.send(text('+1 (555) 010-0199', 'Code: 482913 & more = fine'));
    assert.match(result.providerId, /^SM[0-9a-f]{32}$/);
    const messages = await carrier.waitFor(before + 1, 1000);
    assert.deepEqual(messages.at(-1), {
      to: '+15550100199',
      from: '+15550100100',
      body: 'Code: 482913 & more = fine',
    });
    const request = carrier.requests.at(-1)!;
    assert.equal(request.method, 'POST');
    assert.equal(request.path, `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`);
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(
      request.headers.authorization,
      `Basic ${Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64')}`,
    );
  });

  test('a wrong token is an authentication failure, not retryable', async () => {
    const wrong = new TwilioCompatibleSender({
      apiUrl: carrier.url,
      account: ACCOUNT,
      token: 'not-the-token',
      from: '+15550100100',
    });
    await assert.rejects(
      wrong.send(text('+15550100199')),
      smsError('sms_auth_failed', false, (err) => {
        assert.equal(err.carrierStatus, 401);
        assert.equal(err.carrierCode, 20003);
        assert.match(err.message, /SEALPOST_SMS_TOKEN/);
        assert.ok(!err.message.includes('not-the-token'));
      }),
    );
  });

  test('the carrier refuses a To that is not E.164 with a Twilio-style 21211', async () => {
    const response = await fetch(`${carrier.url}/2010-04-01/Accounts/${ACCOUNT}/Messages.json`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ To: '5550100199', From: '+15550100100', Body: 'x' }).toString(),
    });
    assert.equal(response.status, 400);
    const error = (await response.json()) as { code: number; status: number; more_info: string };
    assert.equal(error.code, 21211);
    assert.equal(error.status, 400);
    assert.match(error.more_info, /21211/);
  });

  test('a number the carrier refuses (21211) is not retryable, and the error does not quote it', async () => {
    const accepted = carrier.messages.length;
    await assert.rejects(
      sender.send(text(INVALID_NUMBER)),
      smsError('sms_invalid_number', false, (err) => {
        assert.equal(err.carrierStatus, 400);
        assert.equal(err.carrierCode, 21211);
        assert.ok(!err.message.includes(INVALID_NUMBER.slice(1)), err.message);
      }),
    );
    assert.equal(carrier.messages.length, accepted);
  });

  test('a number that is not E.164 is refused before anything is sent', async () => {
    const requests = carrier.requests.length;
    await assert.rejects(sender.send(text('555 0100')), smsError('sms_invalid_number', false));
    assert.equal(carrier.requests.length, requests);
  });

  test('500 and 503 are retryable; the next attempt goes through', async () => {
    for (const status of [500, 503]) {
      carrier.failNext(1, status);
      await assert.rejects(
        sender.send(text('+15550100199')),
        smsError('sms_carrier_error', true, (err) => assert.equal(err.carrierStatus, status)),
      );
    }
    assert.match((await sender.send(text('+15550100199'))).providerId, /^SM/);
  });

  test('429 is retryable and carries the Retry-After', async () => {
    carrier.failNext(2, 429);
    for (let i = 0; i < 2; i++)
      await assert.rejects(
        sender.send(text('+15550100199')),
        smsError('sms_rate_limited', true, (err) => {
          assert.equal(err.carrierCode, 20429);
          assert.equal(err.retryAfterSeconds, 1);
        }),
      );
    await sender.send(text('+15550100199'));
  });

  test('a carrier slower than the timeout is a retryable timeout', async () => {
    const quick = new TwilioCompatibleSender({
      apiUrl: carrier.url,
      account: ACCOUNT,
      token: TOKEN,
      from: '+15550100100',
      timeoutMs: 200,
    });
    carrier.delayNext(1, 5000);
    const started = Date.now();
    await assert.rejects(
      quick.send(text('+15550100199')),
      smsError('sms_timeout', true, (err) => assert.match(err.message, /within 200 ms/)),
    );
    assert.ok(Date.now() - started < 2000);
  });

  test('other 4xx answers are not retryable', async () => {
    carrier.failNext(1, 404);
    await assert.rejects(sender.send(text('+15550100199')), smsError('sms_rejected', false));
    const wrongAccount = new TwilioCompatibleSender({
      apiUrl: carrier.url,
      account: 'ACsomeoneelse',
      token: TOKEN,
      from: '+15550100100',
    });
    await assert.rejects(wrongAccount.send(text('+15550100199')), smsError('sms_auth_failed', false));
  });

  test('bodies are checked before sending: empty, too long, no organisation, free-text purpose', async () => {
    const requests = carrier.requests.length;
    await assert.rejects(sender.send(text('+15550100199', '  ')), smsError('sms_invalid_message', false));
    await assert.rejects(
      sender.send(text('+15550100199', 'x'.repeat(1601))),
      smsError('sms_invalid_message', false),
    );
    await assert.rejects(
      sender.send({ ...text('+15550100199'), context: { orgId: 'nope', purpose: 'portal-otp' } }),
      smsError('sms_invalid_message', false),
    );
    await assert.rejects(
      sender.send({ ...text('+15550100199'), context: { orgId: ORG, purpose: 'Results for J. Smith' } }),
      smsError('sms_invalid_message', false),
    );
    assert.equal(carrier.requests.length, requests);
  });
});

describe('twilio-compatible client against misbehaving servers', () => {
  let server: Server;
  let url: string;
  let answer: (res: import('node:http').ServerResponse) => void = (res) => res.end();

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => answer(res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );

  const client = () =>
    new TwilioCompatibleSender({
      apiUrl: url,
      account: ACCOUNT,
      token: TOKEN,
      from: 'Sealpost',
      timeoutMs: 2000,
      maxResponseBytes: 1024,
    });

  test('a redirect is not followed (the token would go with it)', async () => {
    let followed = false;
    answer = (res) => res.writeHead(307, { location: `${url}/elsewhere` }).end();
    server.once('request', (req) => {
      if (req.url === '/elsewhere') followed = true;
    });
    await assert.rejects(
      client().send(text('+15550100199')),
      smsError('sms_carrier_error', false, (err) => assert.match(err.message, /redirect \(307\)/)),
    );
    assert.equal(followed, false);
  });

  test('an answer over the size cap is refused, streamed or declared', async () => {
    answer = (res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.write('x'.repeat(800));
      res.end('x'.repeat(800));
    };
    await assert.rejects(
      client().send(text('+15550100199')),
      smsError('sms_bad_answer', true, (err) => assert.match(err.message, /larger than 1024 bytes/)),
    );
    answer = (res) => res.writeHead(201, { 'content-length': '5000' }).end('y'.repeat(5000));
    await assert.rejects(client().send(text('+15550100199')), smsError('sms_bad_answer', false));
  });

  test('a 2xx without a sid is a bad answer, not retried (the text may have left)', async () => {
    answer = (res) => res.writeHead(201, { 'content-type': 'application/json' }).end('{"status":"queued"}');
    await assert.rejects(client().send(text('+15550100199')), smsError('sms_bad_answer', false));
    answer = (res) => res.writeHead(200).end('<html>not json</html>');
    await assert.rejects(client().send(text('+15550100199')), smsError('sms_bad_answer', false));
  });

  test('a carrier that cannot be reached is retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = new TwilioCompatibleSender({
      apiUrl: `http://127.0.0.1:${port}`,
      account: ACCOUNT,
      token: TOKEN,
      from: '+15550100100',
    });
    await assert.rejects(
      unreachable.send(text('+15550100199')),
      smsError('sms_unreachable', true, (err) => assert.match(err.message, /ECONNREFUSED/)),
    );
  });
});
