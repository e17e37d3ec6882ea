import assert from 'node:assert/strict';
import { test } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { splitMessage } from '../../src/mime/index.ts';

test('a composed message splits into outer headers and the whole MIME entity', async () => {
  const raw = await new MailComposer({
    from: 'Clinic <clinic@example.org>',
    to: 'patient@example.net',
    subject: 'Your results',
    text: 'Hello\nline two',
    html: '<p>Hello</p>',
    attachments: [{ filename: 'r.txt', content: 'abc' }],
  })
    .compile()
    .build();
  const { outerHeaders, entity } = splitMessage(raw);
  const outerNames = outerHeaders.map((h) => h.slice(0, h.indexOf(':')).toLowerCase());
  assert.ok(
    outerNames.includes('from') && outerNames.includes('subject') && outerNames.includes('message-id'),
  );
  assert.ok(!outerNames.some((n) => n.startsWith('content-') || n === 'mime-version'));
  const text = entity.toString('latin1');
  assert.match(text, /^Content-Type: multipart\/mixed;\s+boundary=/);
  assert.ok(!/[^\r]\n/.test(text), 'CRLF line ends only');
  assert.ok(text.includes('Content-Disposition: attachment; filename=r.txt'));
});

test('a message without Content-Type gets text/plain inside; without a blank line it is refused', () => {
  const { entity } = splitMessage(Buffer.from('From: a@b\nSubject: x\n\nbody\n'));
  assert.equal(entity.toString(), 'Content-Type: text/plain; charset=us-ascii\r\n\r\nbody\r\n');
  assert.throws(() => splitMessage(Buffer.from('From: a@b')), /no header\/body separator/);
});
