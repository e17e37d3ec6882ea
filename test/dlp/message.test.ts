import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attachmentFormat, type DlpResult, scanMessage } from '../../src/dlp/index.ts';

const NOW = { now: new Date('2026-01-15T00:00:00Z') };

function counts(result: DlpResult): Record<string, number> {
  return Object.fromEntries(result.findings.map((f) => [f.kind, f.count]));
}

const LETTER = `RE: Referral

Dear Dr. Patel,

Thank you for seeing Mrs. Gonzalez, MRN 00884213, DOB 7/23/1958, who was admitted on 12/02/2025
and discharged December 6, 2025. Her Medicare number is 5TN7-YR4-KW82. Secondary insurance:
member ID W228419035, group no. 0187342. SSN (billing office only): 531-22-0871.

Assessment and plan:
1. Type 2 diabetes mellitus with hyperglycemia (E11.65), continue metformin 1000 mg BID.
2. Essential hypertension (I10), lisinopril 20 mg daily; BP 138/84 today.

She lives at 1187 W. Cedar Ridge Rd, Apt 12, Tucson, AZ 85745; home phone 520.555.0377.

Anil Patel, MD, NPI 1234567893
Desert Family Medicine, 4400 E Broadway Blvd, Suite 300, Tucson, AZ 85711, Tel (520) 555-0400
`;

/** Every value planted in LETTER, which no result may contain. */
const PLANTED = [
  '00884213',
  '7/23/1958',
  '12/02/2025',
  'December 6, 2025',
  '5TN7-YR4-KW82',
  '5TN7YR4KW82',
  'W228419035',
  '0187342',
  '531-22-0871',
  '531220871',
  '0871',
  'E11.65',
  'I10',
  '1187',
  'Cedar',
  '85745',
  '520.555.0377',
  '5205550377',
  '1234567893',
  '4400',
  '85711',
  '555-0400',
];

test('a clinical letter: each kind counted once per occurrence, PHI, body only', () => {
  const result = scanMessage({ subject: 'Referral', text: LETTER }, NOW);
  assert.deepEqual(counts(result), {
    us_ssn: 1,
    medicare_mbi: 1,
    mrn: 1,
    insurance_member_id: 2,
    date_of_birth: 1,
    clinical_date: 2,
    icd10: 2,
    phone: 2,
    postal_address: 2,
    npi: 1,
  });
  assert.equal(result.phi, true);
  for (const f of result.findings) assert.deepEqual(f.where, ['body']);
  assert.equal(result.scanned_bytes, Buffer.byteLength(LETTER) + 'Referral'.length);
  assert.equal(result.skipped_attachments, 0);
});

test('results never contain a matched value, in any form', () => {
  const html = `<p>${LETTER.replace(/\n/g, '<br>')}</p>`;
  const result = scanMessage(
    {
      subject: 'MRN 00884213 DOB 7/23/1958',
      text: LETTER,
      html,
      attachments: [{ filename: 'letter.txt', contentType: 'text/plain', content: Buffer.from(LETTER) }],
    },
    NOW,
  );
  const json = JSON.stringify(result);
  for (const value of PLANTED) assert.ok(!json.includes(value), `result contains ${value}: ${json}`);
  // only kinds, counts, places, flags and sizes
  assert.deepEqual(Object.keys(result).sort(), ['findings', 'phi', 'scanned_bytes', 'skipped_attachments']);
  for (const f of result.findings) assert.deepEqual(Object.keys(f).sort(), ['count', 'kind', 'where']);
  assert.ok(!/[0-9a-f]{16,}/i.test(json), 'no hashes');
});

test('the text and HTML bodies are one content: per kind the larger count, not the sum', () => {
  const text = 'MRN 12345678. DOB 01/02/1980.';
  const html = '<p>MRN <b>12345678</b>.</p><p>DOB 01/02/1980. Also MRN 23456789.</p>';
  const result = scanMessage({ text, html }, NOW);
  assert.deepEqual(counts(result), { mrn: 2, date_of_birth: 1 });
});

test('where: subject, body and attachment', () => {
  const result = scanMessage(
    {
      subject: 'Results for DOB 01/02/1980',
      text: 'See attached. DOB 01/02/1980.',
      attachments: [{ filename: 'r.txt', content: Buffer.from('MRN 12345678, DOB 01/02/1980') }],
    },
    NOW,
  );
  assert.deepEqual(result.findings, [
    { kind: 'mrn', count: 1, where: ['attachment'] },
    { kind: 'date_of_birth', count: 3, where: ['subject', 'body', 'attachment'] },
  ]);
});

test('no PHI: an ordinary business email with a signature phone and address', () => {
  const result = scanMessage(
    {
      subject: 'Your order #W1234567 has shipped',
      text:
        'Order placed 01/05/2026, delivery Jan 9, 2026. Tracking 1Z999AA10123456784.\n' +
        'Total $76.66. Questions? Call 1-888-555-2345.\nAcme Inc, 500 Market Street, San Francisco, CA 94105',
    },
    NOW,
  );
  assert.deepEqual(counts(result), { phone: 1, postal_address: 1 });
  assert.equal(result.phi, false);
});

test('an empty message', () => {
  assert.deepEqual(scanMessage({}, NOW), {
    findings: [],
    phi: false,
    scanned_bytes: 0,
    skipped_attachments: 0,
  });
});

test('attachment formats by content type or extension', () => {
  const cases: [string | undefined, string | undefined, string][] = [
    ['notes.txt', 'text/plain', 'text'],
    ['notes.txt', 'application/octet-stream', 'text'],
    [undefined, 'text/plain; charset=utf-8', 'text'],
    ['patient.json', undefined, 'text'],
    ['bundle', 'application/fhir+json', 'text'],
    ['ccd.xml', 'application/xml', 'text'],
    ['invite.ics', 'text/calendar', 'text'],
    ['msg.hl7', undefined, 'text'],
    ['list.csv', 'text/csv', 'delimited'],
    ['list.tsv', undefined, 'delimited'],
    ['page.html', undefined, 'html'],
    [undefined, 'text/html', 'html'],
    ['scan.pdf', 'application/pdf', 'skip'],
    ['xray.png', 'image/png', 'skip'],
    ['letter.docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'skip'],
    ['records.zip', 'application/zip', 'skip'],
    ['fwd.eml', 'message/rfc822', 'skip'],
    [undefined, undefined, 'skip'],
  ];
  for (const [filename, contentType, format] of cases) {
    assert.equal(attachmentFormat({ filename, contentType }), format, `${filename} ${contentType}`);
  }
});

test('attachments: text, JSON, XML, HTML scanned; PDF, images and binary content skipped and counted', () => {
  const result = scanMessage(
    {
      attachments: [
        { filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('SSN 212-45-6789') },
        {
          filename: 'p.json',
          contentType: 'application/json',
          content: Buffer.from(
            '{"resourceType":"Patient","birthDate":"1980-01-02","identifier":[{"system":"urn:mrn","value":"12345678"}]}',
          ),
        },
        {
          filename: 'c.xml',
          contentType: 'application/xml',
          content: Buffer.from('<patient><mrn>23456789</mrn></patient>'),
        },
        { filename: 'r.html', contentType: 'text/html', content: Buffer.from('<p>Dx: <b>E11.9</b></p>') },
        {
          filename: 's.pdf',
          contentType: 'application/pdf',
          content: Buffer.from('%PDF-1.7 SSN 212-45-6789'),
        },
        {
          filename: 'x.png',
          contentType: 'image/png',
          content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]),
        },
        {
          filename: 'bin.txt',
          contentType: 'text/plain',
          content: Buffer.from([0x53, 0x53, 0x4e, 0, 0x01, 0x02]),
        },
      ],
    },
    NOW,
  );
  assert.deepEqual(counts(result), { us_ssn: 1, mrn: 2, date_of_birth: 1, icd10: 1 });
  assert.equal(result.skipped_attachments, 3);
  assert.equal(result.phi, true);
});

test('a CSV patient list counts every row, with the header as context', () => {
  const rows = Array.from({ length: 50 }, (_, i) => {
    const n = String(10000000 + i * 7919);
    return `"Doe, J${i}",0${1 + (i % 9)}/1${i % 10}/19${50 + (i % 40)},${n},${200 + i} Main St,"(212) 555-${String(300 + i).padStart(4, '0')}"`;
  });
  const csv = `Name,DOB,MRN,Address,Phone\r\n${rows.join('\r\n')}\r\n`;
  const result = scanMessage({ attachments: [{ filename: 'export.csv', content: Buffer.from(csv) }] }, NOW);
  assert.deepEqual(counts(result), { mrn: 50, date_of_birth: 50, phone: 50, postal_address: 50 });
  // semicolon-separated, no quotes
  const semi = `naam;geboortedatum;DOB\nA;x;01/02/1980\nB;y;03/04/1975\n`;
  const r2 = scanMessage({ attachments: [{ filename: 'l.csv', content: Buffer.from(semi) }] }, NOW);
  assert.deepEqual(counts(r2), { date_of_birth: 2 });
});

test('a tab-separated table pasted in a text body counts every row', () => {
  const text =
    'Patients seen today:\nName\tDOB\tMRN\nDoe\t01/02/1980\t12345678\nRoe\t03/04/1975\t23456789\n\nThanks';
  assert.deepEqual(counts(scanMessage({ text }, NOW)), { date_of_birth: 2, mrn: 2 });
});

test('UTF-8 with BOM and UTF-16 with BOM are decoded', () => {
  const utf8 = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('SSN 212-45-6789')]);
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('MRN 12345678', 'utf16le')]);
  const result = scanMessage(
    {
      attachments: [
        { filename: 'a.txt', content: utf8 },
        { filename: 'b.txt', content: utf16 },
      ],
    },
    NOW,
  );
  assert.deepEqual(counts(result), { us_ssn: 1, mrn: 1 });
  assert.equal(result.skipped_attachments, 0);
});

test('an attachment over the cap is scanned up to the cap and counted as skipped', () => {
  const head = 'SSN 212-45-6789\n';
  const content = Buffer.from(`${head}${'x'.repeat(2000)}\nMRN 12345678\n`);
  const result = scanMessage(
    { attachments: [{ filename: 'big.txt', content }] },
    { ...NOW, maxAttachmentBytes: 1000 },
  );
  assert.deepEqual(counts(result), { us_ssn: 1 });
  assert.equal(result.skipped_attachments, 1);
  assert.equal(result.scanned_bytes, 1000);
});

test('findings on several attachments add up', () => {
  const att = { filename: 'a.txt', content: Buffer.from('DOB 01/02/1980') };
  const result = scanMessage({ attachments: [att, att, att] }, NOW);
  assert.deepEqual(result.findings, [{ kind: 'date_of_birth', count: 3, where: ['attachment'] }]);
});

test('the plausible year range follows the injected clock', () => {
  const text = 'DOB 01/02/2030';
  assert.deepEqual(counts(scanMessage({ text }, NOW)), {});
  assert.deepEqual(counts(scanMessage({ text }, { now: new Date('2031-06-01T00:00:00Z') })), {
    date_of_birth: 1,
  });
  assert.deepEqual(counts(scanMessage({ text: 'DOB 01/02/1899' }, NOW)), {});
});
