import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import { runCli, startServe } from '../support/cli.ts';
import { gnupgHome } from '../support/keys.ts';

// A newcomer's first run: `npm start` (sealpost serve) on a fresh data folder, then the curl
// commands it prints, exactly as printed.

const sh = (command: string) =>
  new Promise<string>((resolve, reject) =>
    execFile('bash', ['-c', command], (err, stdout, stderr) =>
      err ? reject(new Error(stderr)) : resolve(stdout),
    ),
  );

test('the first start in sandbox mode gives curl commands (in its 0600 file, at no terminal) that show every method, captured', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-first-run-'));
  const server = await startServe({ SEALPOST_DATA_DIR: dataDir });
  try {
    assert.match(server.output(), /Mode: sandbox\. Mail is captured, never sent/);
    // Not at a terminal, the commands (which carry the API key) are in the 0600 file it names.
    assert.doesNotMatch(server.output(), /curl |spk_/);
    const commands = server
      .firstStart!.split('\n')
      .map((line) => line.trim())
      .filter((line) => line.startsWith('curl '));
    assert.equal(commands.length, 3, server.firstStart!);

    const sent = JSON.parse(await sh(commands[0]!));
    assert.equal(sent.recipients.length, 5, JSON.stringify(sent));
    let message: {
      id: string;
      status: string;
      recipients: { address: string; method: string; state: string }[];
    };
    for (const until = Date.now() + 30_000; ;) {
      message = JSON.parse(await sh(commands[1]!)).data[0];
      if (message.status === 'done' || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(message.id, sent.id);
    assert.equal(message.status, 'done', JSON.stringify(message));
    const methods = Object.fromEntries(message.recipients.map((r) => [r.address, r.method]));
    assert.deepEqual(methods, {
      'patient@tls.example.test': 'tls',
      'patient@notls.example.test': 'portal',
      'patient@badcert.example.test': 'portal',
      'pgp-patient@tls.example.test': 'pgp',
      'smime-patient@tls.example.test': 'smime',
    });

    const captures = JSON.parse(await sh(commands[2]!));
    assert.equal(captures.mode, 'sandbox');
    assert.equal(captures.data.length, 5);
    const pgpCapture = captures.data.find((c: { method: string }) => c.method === 'pgp');
    const raw = JSON.parse(await sh(`${commands[2]!}/${pgpCapture.id}`)).raw as string;

    const keyFile = join(dataDir, 'demo', 'pgp-patient.private.asc');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const home = await gnupgHome([readFileSync(keyFile, 'utf8')]);
    try {
      const armored = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(raw)![0];
      const decrypted = await home.gpg(['--decrypt'], armored);
      assert.equal(decrypted.code, 0, decrypted.stderr);
      assert.match((await simpleParser(decrypted.stdout)).text!, /MRN: 5551234/);
    } finally {
      await home.dispose();
    }

    // The portal notice in the capture opens the real portal: the code it sends is captured too,
    // and with it the message reads there.
    const notice = captures.data.find(
      (c: { method: string; recipient: string }) =>
        c.method === 'portal' && c.recipient === 'patient@notls.example.test',
    );
    const noticeRaw = JSON.parse(await sh(`${commands[2]!}/${notice.id}`)).raw as string;
    const path = /\/secure\/[A-Za-z0-9_-]{43}/.exec((await simpleParser(noticeRaw)).text!)![0];
    const jar: string[] = [];
    const visit = async (url: string, form?: Record<string, string>) => {
      const res = await fetch(`${server.url}${url}`, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: {
          cookie: jar.join('; '),
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(form ? { body: new URLSearchParams(form).toString() } : {}),
      });
      for (const c of res.headers.getSetCookie()) jar.push(c.split(';')[0]!);
      return { status: res.status, text: await res.text() };
    };
    const start = await visit(path);
    assert.equal(start.status, 200);
    assert.match(start.text, /A secure message is waiting for you/);
    const csrf = /name="csrf" value="([^"]+)"/.exec(start.text)![1]!;
    assert.equal((await visit(`${path}/code`, { csrf })).status, 303);
    let code: string | undefined;
    for (const until = Date.now() + 15_000; !code && Date.now() < until;) {
      const all = JSON.parse(await sh(commands[2]!)).data as { id: string; recipient: string }[];
      for (const c of all.filter((c) => c.recipient === 'patient@notls.example.test' && c.id !== notice.id)) {
        const text = (await simpleParser(JSON.parse(await sh(`${commands[2]!}/${c.id}`)).raw)).text ?? '';
        code = /one-time code is (\d{6})/.exec(text)?.[1] ?? code;
      }
      if (!code) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(code, 'the code email is captured');
    assert.equal((await visit(`${path}/verify`, { csrf, code })).status, 303);
    assert.match((await visit(path)).text, /MRN: 5551234/);
  } finally {
    await server.stop();
  }

  // Going to production is a decision, not a setting that slips: the server refuses until asked.
  try {
    const env = { SEALPOST_DATA_DIR: dataDir, SEALPOST_MODE: 'production' };
    const refused = await runCli(['serve'], env);
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /set up in sandbox mode and SEALPOST_MODE is production.*sealpost mode production/,
    );
    const switched = await runCli(['mode', 'production', '--json'], env);
    assert.equal(switched.code, 0, switched.stderr);
    assert.equal(JSON.parse(switched.stdout).previous, 'sandbox');
    const production = await startServe(env);
    assert.match(production.output(), /Mode: production/);
    await production.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
