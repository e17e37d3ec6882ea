import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { generateDkimKeys } from '../../src/domains/index.ts';
import { SIGNED_HEADERS } from '../../src/secureline/dkim.ts';
import { signDkim } from '../../src/secureline/index.ts';

// src/secureline/dkim.ts builds on mailauth's internal modules (its parser, body hash and header
// canonicalization), which mailauth does not promise to keep. mailauth is pinned to one version in
// package.json; this contract says what dkim.ts relies on, so that a new version that moves any of
// it fails here, naming the piece, before the byte-for-byte comparison in dkim.test.ts does.

const SIGNER = 'mailauth/lib/dkim/dkim-signer.js';
const OPTS = 'mailauth/lib/dkim/header/signature-opts.js';
const TOOLS = 'mailauth/lib/tools.js';

async function load<T>(specifier: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (err) {
    assert.fail(`mailauth's internal module ${specifier} no longer loads (${(err as Error).message})`);
  }
}

const signerModule = () => load<typeof import('mailauth/lib/dkim/dkim-signer.js')>(SIGNER);
const optsModule = () => load<typeof import('mailauth/lib/dkim/header/signature-opts.js')>(OPTS);
const toolsModule = () => load<typeof import('mailauth/lib/tools.js')>(TOOLS);

function assertFunction(owner: object, name: string, arity: number, where: string): void {
  const value = (owner as Record<string, unknown>)[name];
  assert.equal(typeof value, 'function', `${where} no longer has a function ${name}`);
  assert.equal(
    (value as (...args: unknown[]) => unknown).length,
    arity,
    `${where}'s ${name} now declares ${(value as (...args: unknown[]) => unknown).length} parameters, not ${arity}`,
  );
}

const now = new Date('2026-11-23T10:00:00Z');
const HEADER_LIST = ['From', 'Subject', 'To', 'Date'];
// A tiny message: runs of spaces and tabs, a trailing space, empty lines at the end of the body.
const raw = Buffer.from(
  'From: a@clinic.test\r\nTo: b@example.test\r\nSubject:  Tiny \t test \r\nX-Other: 1\r\n\r\nHi  there \r\n\r\n\r\n',
);

test('the mailauth in node_modules is the exact version package.json pins', () => {
  const pinned = (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    }
  ).dependencies.mailauth;
  const installed = (
    JSON.parse(
      readFileSync(new URL('../../node_modules/mailauth/package.json', import.meta.url), 'utf8'),
    ) as {
      version: string;
    }
  ).version;
  assert.match(
    pinned ?? '',
    /^\d+\.\d+\.\d+$/,
    'package.json pins mailauth to one exact version, not a range',
  );
  assert.equal(installed, pinned, `node_modules has mailauth ${installed}, package.json pins ${pinned}`);
});

test("mailauth's internal modules export what dkim.ts calls, with the parameters it passes", async () => {
  const { DkimSigner } = await signerModule();
  assert.equal(typeof DkimSigner, 'function', `${SIGNER} no longer exports DkimSigner`);
  for (const [name, arity] of [
    ['getFieldNames', 1],
    ['getTimestamps', 0],
    ['finalChunk', 0],
    ['finalize', 0],
  ] as const)
    assertFunction(DkimSigner.prototype, name, arity, 'DkimSigner');
  assertFunction(await optsModule(), 'buildSignatureOpts', 3, OPTS);
  const tools = await toolsModule();
  for (const [name, arity] of [
    ['getSigningHeaderLines', 3],
    ['formatRelaxedLine', 2],
    ['formatSignatureHeaderLine', 3],
    ['stripSignatureValue', 2],
    ['writeToStream', 3],
  ] as const)
    assertFunction(tools, name, arity, TOOLS);
});

test("DkimSigner calls finalize with the parsed headers, the relaxed body hash and the signature's fields", async () => {
  const { DkimSigner } = await signerModule();
  const { writeToStream } = await toolsModule();
  const finalized: InstanceType<typeof DkimSigner>[] = [];
  class Probe extends DkimSigner {
    override async finalize(): Promise<void> {
      finalized.push(this);
    }
  }
  const privateKey = Symbol('the key, as handed in');
  const signer = new Probe({
    canonicalization: 'relaxed/relaxed',
    signTime: now,
    headerList: HEADER_LIST,
    signatureData: [
      {
        signingDomain: 'clinic.test',
        selector: 's1',
        privateKey,
        algorithm: 'rsa-sha256',
        canonicalization: 'relaxed/relaxed',
        headerList: HEADER_LIST,
      },
    ],
  });
  await writeToStream(signer, raw);
  const [done] = finalized;
  assert.ok(
    done && finalized.length === 1,
    'DkimSigner no longer calls finalize() once the message is written',
  );
  assert.deepEqual(
    done.headers?.parsed.map((h) => h.key),
    ['from', 'to', 'subject', 'x-other'],
    'DkimSigner.headers.parsed no longer lists the header fields, lower-cased, in order',
  );
  assert.equal(
    done.bodyHashes.get('relaxed:sha256:')?.hash,
    // RFC 6376 3.4.4: runs of whitespace as one space, none at line ends, no empty lines at the end.
    createHash('sha256').update('Hi there\r\n').digest('base64'),
    "DkimSigner.bodyHashes no longer holds the relaxed SHA-256 body hash under 'relaxed:sha256:'",
  );
  assert.equal(done.signatureData.length, 1);
  assert.equal(
    done.signatureData[0]!.privateKey,
    privateKey,
    'DkimSigner no longer keeps the key as handed in',
  );
  assert.equal(done.getFieldNames(done.signatureData[0]!), 'From:Subject:To:Date');
  assert.deepEqual(done.getTimestamps(), { timestamp: now.getTime() / 1000, expiration: false });
});

test("mailauth's header helpers canonicalize and format as dkim.ts hashes them", async () => {
  const { DkimSigner } = await signerModule();
  const tools = await toolsModule();
  const { buildSignatureOpts } = await optsModule();
  assert.equal(
    tools.formatRelaxedLine(Buffer.from('Subject:  Tiny \t test '), '\r\n').toString(),
    'subject:Tiny test\r\n',
  );
  assert.equal(
    tools.stripSignatureValue('DKIM-Signature: v=1; a=rsa-sha256; b=abc\r\n def; bh=xyz').toString(),
    'DKIM-Signature: v=1; a=rsa-sha256; b=; bh=xyz',
  );

  let parsed: NonNullable<InstanceType<typeof DkimSigner>['headers']>['parsed'] = [];
  class Probe extends DkimSigner {
    override async finalize(): Promise<void> {
      parsed = this.headers?.parsed ?? [];
    }
  }
  const options = { canonicalization: 'relaxed/relaxed', signTime: now, headerList: HEADER_LIST };
  await tools.writeToStream(new Probe({ ...options, signatureData: [] }), raw);
  const lines = tools.getSigningHeaderLines(parsed, 'From:Subject:To:Date');
  // Signed from the bottom up (RFC 6376 5.4.2); absent fields are left out.
  assert.equal(lines.keys, 'Subject: To: From');
  assert.deepEqual(
    lines.headers.map((h) => h.key),
    ['subject', 'to', 'from'],
  );

  const { opts, signatureHeaderLine } = buildSignatureOpts('DKIM', lines, {
    signingDomain: 'clinic.test',
    selector: 's1',
    algorithm: 'rsa-sha256',
    canonicalization: 'relaxed/relaxed',
    bodyHash: 'BH',
    timestamp: 1,
    expiration: false,
  });
  assert.deepEqual(opts, {
    a: 'rsa-sha256',
    c: 'relaxed/relaxed',
    s: 's1',
    d: 'clinic.test',
    h: 'Subject: To: From',
    bh: 'BH',
    t: 1,
  });
  assert.match(
    signatureHeaderLine,
    /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=clinic\.test;\r\n/,
  );
  assert.match(signatureHeaderLine, / b=a+$/, 'the line to hash no longer ends in a placeholder b= value');
  assert.equal(
    tools.formatSignatureHeaderLine('DKIM', { ...opts, b: 'SIG' }, true),
    'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=clinic.test;\r\n' +
      ' h=Subject: To: From; q=dns/txt; s=s1; t=1; bh=BH; b=SIG',
  );
});

test("signatures made from those pieces are byte for byte mailauth's public dkimSign on a tiny message", async () => {
  const keys = generateDkimKeys().map((k) => ({
    selector: k.selector,
    algorithm: k.algorithm,
    privateKeyPem: k.privateKeyPem,
  }));
  const message = Buffer.from(
    `From: a@clinic.test\r\nTo: b@example.test\r\nSubject:  Tiny \t test \r\nDate: ${now.toUTCString()}\r\n` +
      'Message-ID: <t@clinic.test>\r\n\r\nHi  there \r\n\r\n\r\n',
  );
  const ours = await signDkim(message, 'clinic.test', keys, now);
  const theirs = await dkimSign(message, {
    signingDomain: 'clinic.test',
    selector: keys[0]!.selector,
    privateKey: keys[0]!.privateKeyPem,
    canonicalization: 'relaxed/relaxed',
    signTime: now,
    headerList: SIGNED_HEADERS,
    signatureData: keys.map((k) => ({
      signingDomain: 'clinic.test',
      selector: k.selector,
      privateKey: k.privateKeyPem,
      algorithm: k.algorithm,
      canonicalization: 'relaxed/relaxed',
      headerList: SIGNED_HEADERS,
    })),
  });
  assert.deepEqual(theirs.errors, []);
  assert.equal(
    ours.toString('latin1'),
    theirs.signatures + message.toString('latin1'),
    "signDkim no longer writes what mailauth's dkimSign writes",
  );
});
