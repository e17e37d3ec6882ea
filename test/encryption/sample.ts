// A message with everything an encryption envelope must carry whole: text, HTML, a text
// attachment and a binary one.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';

export const BODY_TEXT = 'Your lab results are ready: potassium 4.1 mmol/L.';

export async function sampleMessage(): Promise<Buffer> {
  return new MailComposer({
    from: 'Clinic <clinic@example.org>',
    to: 'Pat Doe <patient@example.net>',
    subject: 'Results for Pat Doe',
    date: new Date('2026-11-20T09:30:00Z'),
    messageId: '<results-1@example.org>',
    text: `${BODY_TEXT}\nCall us with questions.`,
    html: `<p>${BODY_TEXT}</p><p>Call us with questions.</p>`,
    attachments: [
      { filename: 'notes.txt', content: 'Follow-up in two weeks.\n' },
      { filename: 'scan.bin', content: randomBytes(3000), contentType: 'application/octet-stream' },
    ],
  })
    .compile()
    .build();
}

/** The decrypted entity reads as the original: same text, HTML and attachments, byte for byte. */
export async function assertSameContent(decrypted: Buffer, original: Buffer): Promise<void> {
  const [got, want] = await Promise.all([simpleParser(decrypted), simpleParser(original)]);
  assert.equal(got.text, want.text);
  assert.equal(got.html, want.html);
  const summary = (m: typeof got) =>
    m.attachments.map((a) => ({
      filename: a.filename,
      type: a.contentType,
      content: a.content.toString('hex'),
    }));
  assert.equal(got.attachments.length, 2);
  assert.deepEqual(summary(got), summary(want));
}

/** What must never show on the outside of an encrypted message. */
export function assertNothingInClear(outer: Buffer, original: Buffer): void {
  const text = outer.toString('latin1');
  for (const secret of [BODY_TEXT, 'potassium', 'notes.txt', 'scan.bin', 'Follow-up']) {
    assert.ok(!text.includes(secret), `"${secret}" is in clear`);
  }
  // Nor any line of the original body (e.g. the attachments' base64).
  const body = original.toString('latin1');
  const bodyLines = body
    .slice(body.indexOf('\r\n\r\n'))
    .split('\r\n')
    .filter((l) => l.length > 40);
  assert.ok(bodyLines.length > 10);
  for (const line of bodyLines) assert.ok(!text.includes(line), `a body line is in clear: ${line}`);
}

/** The outer header field values by lower-case name. */
export function outerFields(message: Buffer): Map<string, string> {
  const head = message.toString('latin1').split('\r\n\r\n')[0]!;
  const fields = new Map<string, string>();
  for (const field of head.split(/\r\n(?![ \t])/)) {
    const colon = field.indexOf(':');
    fields.set(field.slice(0, colon).toLowerCase(), field.slice(colon + 1).trim());
  }
  return fields;
}
