import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { simpleParser } from 'mailparser';
import * as openpgp from 'openpgp';
import { dkimRecordValue, generateDkimKeys } from '../../src/domains/dkim.ts';
import { encryptPgpMime, encryptSmime } from '../../src/encryption/index.ts';
import type { MessageContent, StoredMessage } from '../../src/messages/index.ts';
import type { SendOutcome } from '../../src/outbound/index.ts';
import type { Attempt } from '../../src/secureline/attempts.ts';
import { DEFAULT_POLICY, type SecurelineDeps } from '../../src/secureline/index.ts';
import type { Claimed } from '../../src/secureline/queue.ts';
import { stateAfter } from '../../src/secureline/record.ts';
import {
  build,
  choose,
  type Delivery,
  encrypt,
  endingOf,
  portalInstead,
  resolve,
  runSteps,
  sign,
  type StepEnv,
  startDelivery,
  toPortal,
  transmit,
} from '../../src/secureline/steps.ts';
import type { Transport } from '../../src/secureline/types.ts';
import {
  type PgpKeyPair,
  pgpKeyPair,
  run,
  scratchDir,
  type SmimeIdentity,
  smimeIdentity,
} from '../support/keys.ts';

// Each delivery step on its own, with real inputs: recipients' keys made here, real MIME, real
// DKIM keys. The steps that read the database (resolve past its sandbox check, record's writes)
// are exercised end to end in delivery.test.ts and the suites beside it.

const NOW = new Date('2026-12-01T10:00:00Z');

const content = {
  from: { name: 'Dr Ünal', address: 'notify@clinic.test' },
  to: [{ address: 'patient@example.net' }],
  cc: [],
  bcc: [],
  reply_to: [],
  subject: 'Your results',
  text: 'Your results are in.\n',
  html: '<p>Your results are in.</p>',
  headers: {},
  attachments: [
    { filename: 'r.txt', content_type: 'text/plain', content: Buffer.from('HbA1c 6.1').toString('base64') },
  ],
} as unknown as MessageContent;

const message: StoredMessage = {
  org_id: '00000000-0000-4000-8000-000000000001',
  message_id: '00000000-0000-4000-8000-000000000002',
  created_at: NOW,
  send_at: null,
  from_address: 'notify@clinic.test',
  from_domain: 'clinic.test',
  protection: 'auto',
  priority: 'transactional',
  tags: [],
  size_bytes: 100,
  dlp: { findings: [], phi: false, scanned_bytes: 100, skipped_attachments: 0 },
  phi: true,
  rfc_message_id: '<m1@clinic.test>',
  content_sealed: Buffer.alloc(0),
  sandbox: false,
};

const claimed = (overrides: Partial<Claimed> = {}): Claimed => ({
  org_id: message.org_id,
  recipient_id: '00000000-0000-4000-8000-000000000003',
  message_id: message.message_id,
  position: 0,
  kind: 'to',
  address: 'patient@example.net',
  state: 'delivering',
  method: null,
  method_reason: null,
  attempts: 0,
  preference: null,
  has_uploaded_keys: true,
  claims: 1,
  message,
  ...overrides,
});

/** A transport that keeps what it is handed and answers as told: the seam the sandbox fills. */
function answering(outcome: SendOutcome) {
  const sent: Parameters<Transport['send']>[0][] = [];
  const transport: Transport = {
    send: async (request) => {
      sent.push(request);
      return outcome;
    },
  };
  return { sent, transport };
}

const dkim = generateDkimKeys();

function env(overrides: Partial<SecurelineDeps> = {}): StepEnv {
  return {
    deps: {
      clock: () => NOW,
      encrypt: { pgp: encryptPgpMime, smime: encryptSmime },
      sandbox: false,
      lifetimeHours: 120,
      retryBaseSeconds: 60,
      ...overrides,
    } as SecurelineDeps,
    policyOf: async () => DEFAULT_POLICY,
    dkimKeysOf: async () =>
      dkim.map((k) => ({ selector: k.selector, algorithm: k.algorithm, privateKeyPem: k.privateKeyPem })),
  };
}

/** A delivery resolved and chosen for, as the steps before build leave it. */
function chosen(choice: Delivery['choice'], keys: Delivery['keys'] = { pgp: [], smime: [] }): Delivery {
  const d = startDelivery(claimed(), NOW);
  d.content = content;
  d.policy = DEFAULT_POLICY;
  d.keys = keys;
  d.choice = choice;
  return d;
}

describe('delivery steps', () => {
  let pgp: PgpKeyPair;
  let smime: SmimeIdentity;
  const files = scratchDir();

  before(async () => {
    [pgp, smime] = await Promise.all([pgpKeyPair(), smimeIdentity()]);
  });
  after(() => files.dispose());

  test('resolve stops a sandbox message on a production worker, unsent, before reading anything', async () => {
    const d = startDelivery(claimed({ message: { ...message, sandbox: true } }), NOW);
    // No database nor keyring is given: the step must stop before it needs one.
    const stop = await resolve(env(), d);
    assert.deepEqual(stop, {
      unsent: { reason: 'accepted in sandbox mode: captured only, never delivered', code: 'sandbox_message' },
    });
    assert.equal(d.content, undefined);
  });

  test('choose takes the recipient key, asks for verified TLS without one, and keeps a portal recipient there', async () => {
    const withKey = chosen(undefined, {
      pgp: [{ fingerprint: pgp.fingerprint, key: pgp.publicKey, source: 'uploaded' }],
      smime: [],
    });
    assert.equal(await choose(env(), withKey), undefined);
    assert.equal(withKey.choice?.method, 'pgp');
    assert.equal(withKey.tls, 'opportunistic', 'end-to-end encrypted mail does not need verified TLS');

    const without = chosen(undefined);
    await choose(env(), without);
    assert.deepEqual([without.choice?.method, without.tls], ['tls', 'enforced']);

    const later = new Date(NOW.getTime() + 5000);
    const portal = startDelivery(
      claimed({ method: 'portal', method_reason: 'the sender asked for the portal' }),
      NOW,
    );
    portal.policy = DEFAULT_POLICY;
    await choose(env({ clock: () => later }), portal);
    assert.deepEqual(portal.choice, { method: 'portal', reason: 'the sender asked for the portal' });
    assert.equal(portal.startedAt, later, "the notice's attempt starts when it is chosen");
  });

  test("build writes the recipient's own copy as RFC 5322 with CRLF line breaks", async () => {
    const d = chosen({ method: 'tls', tls: 'enforced', reason: 'r' });
    const personalise: SecurelineDeps['personalise'] = async (c, ctx) => ({
      ...c,
      headers: { ...c.headers, 'X-Copy-For': ctx.recipientId },
    });
    assert.equal(await build(env({ personalise }), d), undefined);
    assert.equal(d.raw!.toString('latin1').match(/(?<!\r)\n/g), null);
    const parsed = await simpleParser(d.raw!);
    assert.equal(parsed.subject, 'Your results');
    assert.equal(parsed.messageId, '<m1@clinic.test>');
    assert.equal(parsed.headers.get('x-copy-for'), d.recipient.recipient_id);
    assert.equal(parsed.attachments[0]?.content.toString(), 'HbA1c 6.1');
  });

  test('encrypt seals PGP/MIME to the recipient key under a neutral subject; the key holder reads it', async () => {
    const d = chosen(
      { method: 'pgp', reason: 'r' },
      { pgp: [{ fingerprint: pgp.fingerprint, key: pgp.publicKey }], smime: [] },
    );
    await build(env(), d);
    assert.equal(await encrypt(env(), d), undefined);
    const outer = await simpleParser(d.raw!);
    assert.equal(outer.subject, 'Encrypted message');
    assert.match(d.raw!.toString('latin1'), /Content-Type: multipart\/encrypted/i);
    assert.doesNotMatch(d.raw!.toString('latin1'), /HbA1c|Your results are in/);
    const armored = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(
      d.raw!.toString('latin1'),
    )![0];
    const privateKey = await openpgp.decryptKey({
      privateKey: await openpgp.readPrivateKey({ armoredKey: pgp.privateKey }),
      passphrase: pgp.passphrase,
    });
    const { data } = await openpgp.decrypt({
      message: await openpgp.readMessage({ armoredMessage: armored }),
      decryptionKeys: privateKey,
      format: 'binary',
    });
    const inner = await simpleParser(Buffer.from(data as Uint8Array));
    assert.equal(inner.subject, 'Your results');
    assert.equal(inner.attachments[0]?.content.toString(), 'HbA1c 6.1');
  });

  test('encrypt seals S/MIME to the certificate; openssl decrypts it as its holder', async () => {
    const d = chosen(
      { method: 'smime', reason: 'r' },
      { pgp: [], smime: [{ fingerprint: 'f', key: smime.certificate }] },
    );
    await build(env(), d);
    await encrypt(env(), d);
    assert.match(d.raw!.toString('latin1'), /application\/pkcs7-mime; smime-type=authEnveloped-data/);
    const out = await run('openssl', [
      'cms',
      '-decrypt',
      '-binary',
      '-in',
      files.write('m.eml', d.raw!),
      '-recip',
      files.write('r.pem', smime.certificate),
      '-inkey',
      files.write('r.key', smime.privateKey),
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal((await simpleParser(out.stdout)).subject, 'Your results');
  });

  test('encrypt fails closed: an unusable key stops the delivery with a failed attempt, nothing sealed', async () => {
    const d = chosen(
      { method: 'pgp', reason: 'r' },
      { pgp: [{ fingerprint: 'f', key: 'not a key' }], smime: [] },
    );
    await build(env(), d);
    const built = d.raw;
    const stop = await encrypt(env(), d);
    assert.ok(stop && 'attempt' in stop);
    assert.equal(stop.attempt.outcome, 'failed');
    assert.equal(stop.attempt.method, 'pgp');
    assert.equal(stop.attempt.number, 1);
    assert.equal(d.raw, built);
    // TLS and the portal are sent as built.
    const tls = chosen({ method: 'tls', tls: 'enforced', reason: 'r' });
    await build(env(), tls);
    const plain = tls.raw;
    assert.equal(await encrypt(env(), tls), undefined);
    assert.equal(tls.raw, plain);
  });

  test('sign adds RSA and Ed25519 DKIM signatures of the From domain that verify, to the mail and its redacted copy', async () => {
    const d = chosen({ method: 'tls', tls: 'enforced', reason: 'r' });
    await build(env(), d);
    const mail = { ...d, redacted: d.raw! };
    await sign(env(), mail);
    const records = new Map(
      dkim.map((k) => [`${k.selector}._domainkey.clinic.test`, dkimRecordValue(k.algorithm, k.publicKey)]),
    );
    for (const signed of [mail.raw!, mail.redacted]) {
      const verified = await dkimVerify(signed, {
        curTime: NOW,
        resolver: async (name: string) => [[records.get(name)!]],
      });
      assert.deepEqual(verified.results.map((r) => `${r.algo} ${r.status.result}`).sort(), [
        'ed25519-sha256 pass',
        'rsa-sha256 pass',
      ]);
    }
  });

  test('transmit hands the transport one recipient with its VERP return path and TLS, and stops with the attempt', async () => {
    const d = chosen({ method: 'tls', tls: 'enforced', reason: 'r' });
    d.tls = 'enforced';
    d.raw = Buffer.from('signed');
    const tlsInfo = { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' };
    const { sent, transport } = answering({
      status: 'delivered',
      mx: 'mx.example.net',
      response: '250 ok',
      tls: tlsInfo,
      rejected: [],
    } as SendOutcome);
    const stop = await transmit(env({ transport }), d);
    assert.deepEqual(stop, {
      attempt: {
        number: 1,
        startedAt: NOW,
        method: 'tls',
        outcome: 'delivered',
        mx: 'mx.example.net',
        response: '250 ok',
        tls: tlsInfo,
      },
    });
    assert.equal(sent.length, 1);
    assert.deepEqual(
      { ...sent[0], raw: sent[0]!.raw.toString() },
      {
        domain: 'example.net',
        from: `bounces+${d.recipient.recipient_id}@clinic.test`,
        to: ['patient@example.net'],
        raw: 'signed',
        tls: 'enforced',
        context: {
          orgId: message.org_id,
          messageId: message.message_id,
          recipientId: d.recipient.recipient_id,
          kind: 'message',
        },
      },
    );
  });

  test("the transport's outcomes map to attempts: a refused recipient bounces (5xx) or defers (4xx)", () => {
    const delivered = { status: 'delivered', mx: 'mx', response: '250 ok', tls: null } as const;
    assert.deepEqual(
      endingOf({ ...delivered, rejected: [{ code: 550, response: '550 no such user' }] } as SendOutcome),
      {
        outcome: 'bounced',
        mx: 'mx',
        code: 550,
        response: '550 no such user',
        detail: null,
      },
    );
    assert.deepEqual(
      endingOf({ ...delivered, rejected: [{ code: 452, response: '452 full' }] } as SendOutcome),
      {
        outcome: 'deferred',
        mx: 'mx',
        code: 452,
        response: '452 full',
        detail: 'the server asked to try this recipient later',
      },
    );
    assert.deepEqual(endingOf({ status: 'tls_failed', mx: 'mx', reason: 'no STARTTLS' }), {
      outcome: 'tls_failed',
      mx: 'mx',
      detail: 'no STARTTLS',
    });
    assert.deepEqual(endingOf({ status: 'deferred', mx: null, reason: 'connection refused' }), {
      outcome: 'deferred',
      mx: null,
      code: null,
      response: null,
      detail: 'connection refused',
    });
    assert.deepEqual(endingOf({ status: 'bounced', mx: 'example.net', code: 556, response: '556 null MX' }), {
      outcome: 'bounced',
      mx: 'example.net',
      code: 556,
      response: '556 null MX',
    });
  });

  test('record: a deferral is retried after the backoff, and bounces once the lifetime would pass', () => {
    const deps = { lifetimeHours: 1, retryBaseSeconds: 60 };
    const d = { message, choice: { method: 'tls' as const, reason: 'r' } };
    const attempt = (number: number): Attempt => ({
      number,
      startedAt: NOW,
      method: 'tls',
      outcome: 'deferred',
      detail: '451 later',
    });
    assert.deepEqual(stateAfter(deps, d, attempt(1), NOW), {
      state: 'deferred',
      action: 'message.deferred',
      retryAt: new Date(NOW.getTime() + 60_000),
      detail: '451 later',
    });
    const late = new Date(NOW.getTime() + 3_590_000);
    assert.deepEqual(stateAfter(deps, d, attempt(2), late), {
      state: 'bounced',
      action: 'message.bounced',
      retryAt: null,
      detail: 'gave up after 1 hours of deferrals: 451 later',
    });
    const notified = stateAfter(
      deps,
      { message, choice: { method: 'portal', reason: 'r' } },
      { ...attempt(1), outcome: 'delivered' },
      NOW,
    );
    assert.equal(notified.state, 'portal_notified');
    assert.equal(stateAfter(deps, d, { ...attempt(1), outcome: 'tls_failed' }, NOW).state, 'failed');
  });

  test('a direct attempt that could not go out safely hands over to the portal as the next attempt; others are recorded as they are', async () => {
    const d = chosen({ method: 'tls', tls: 'enforced', reason: 'r' });
    const { transport } = answering({ status: 'tls_failed', mx: 'mx.example.net', reason: 'no STARTTLS' });
    const stop = (await transmit(env({ transport }), d))!;
    const handover = portalInstead(d, stop);
    assert.deepEqual(handover?.choice, { method: 'portal', reason: 'enforced TLS failed: no STARTTLS' });
    const later = new Date(NOW.getTime() + 1000);
    toPortal(d, handover!.choice, later, handover!.after);
    assert.deepEqual([d.number, d.startedAt, d.tls], [2, later, 'opportunistic']);

    const sealed = chosen(
      { method: 'smime', reason: 'r' },
      { pgp: [], smime: [{ fingerprint: 'f', key: 'x' }] },
    );
    await build(env(), sealed);
    const failed = await encrypt(env(), sealed);
    assert.match(
      portalInstead(sealed, failed!)!.choice.reason,
      /^encryption failed \(.+\); the portal instead$/,
    );

    const deferred = {
      attempt: { number: 1, startedAt: NOW, method: 'tls' as const, outcome: 'deferred' as const },
    };
    assert.equal(portalInstead(chosen({ method: 'tls', reason: 'r' }), deferred), undefined);
    // A notice that failed stays a failure: there is nowhere safer to go.
    const notice = {
      attempt: { ...deferred.attempt, method: 'portal' as const, outcome: 'tls_failed' as const },
    };
    assert.equal(portalInstead(chosen({ method: 'portal', reason: 'r' }), notice), undefined);
  });

  test('the steps run in order until one stops: a failed encryption is never signed nor sent', async () => {
    const d = chosen(
      { method: 'pgp', reason: 'r' },
      { pgp: [{ fingerprint: 'f', key: 'not a key' }], smime: [] },
    );
    const { sent, transport } = answering({ status: 'bounced', mx: 'mx', code: 550, response: '550' });
    const stop = await runSteps(env({ transport }), d, [build, encrypt, sign, transmit]);
    assert.ok('attempt' in stop && stop.attempt.outcome === 'failed');
    assert.equal(sent.length, 0);
    assert.doesNotMatch(d.raw!.toString('latin1'), /DKIM-Signature/);
  });
});
