import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type DlpKind,
  scanText,
  validDea,
  validIcd10,
  validNanp,
  validNpi,
  validSsn,
} from '../../src/dlp/index.ts';

const NOW = { now: new Date('2026-01-15T00:00:00Z') };

/** "kind[matched text]" per finding, to make failures readable. */
function found(text: string): string[] {
  return scanText(text, NOW).map((f) => `${f.kind}[${text.slice(f.start, f.end)}]`);
}

/** Every sample must give exactly `count` findings of `kind` (default 1) and nothing else. */
function positives(kind: DlpKind, samples: (string | [string, number])[]) {
  for (const sample of samples) {
    const [text, count] = typeof sample === 'string' ? [sample, 1] : sample;
    const findings = scanText(text, NOW);
    const got = found(text);
    assert.equal(findings.length, count, `${JSON.stringify(text)} gave ${JSON.stringify(got)}`);
    for (const f of findings)
      assert.equal(f.kind, kind, `${JSON.stringify(text)} gave ${JSON.stringify(got)}`);
  }
}

/** A valid NPI from nine digits (Luhn over 80840 + digits). */
function npiFrom(nine: string): string {
  for (let d = 0; d <= 9; d++) if (validNpi(nine + d)) return nine + d;
  throw new Error('unreachable');
}

test('validators: SSN ranges, NPI and DEA checksums, ICD-10 shapes, NANP rules', () => {
  assert.ok(validSsn('212', '45', '6789'));
  for (const [a, g, s] of [
    ['000', '12', '3456'],
    ['666', '12', '3456'],
    ['900', '12', '3456'],
    ['999', '12', '3456'],
    ['212', '00', '3456'],
    ['212', '45', '0000'],
    ['078', '05', '1120'],
    ['219', '09', '9999'],
    ['123', '45', '6789'],
    ['111', '11', '1111'],
  ] as const) {
    assert.equal(validSsn(a, g, s), false, `${a}-${g}-${s}`);
  }
  assert.ok(validNpi('1234567893')); // the CMS example
  assert.equal(validNpi('1234567890'), false);
  assert.equal(validNpi('3234567893'), false);
  assert.ok(validNpi(npiFrom('245319599')));
  assert.ok(validDea('AB1234563'));
  assert.equal(validDea('AB1234567'), false);
  for (const c of ['E11.9', 'I10', 'Z79.4', 'F32.A', 'S72.001A', 'C4A.9', 'U07.1', 'E1165', 'O9A.211']) {
    assert.ok(validIcd10(c), c);
  }
  for (const c of ['A1C', 'B12', 'T12', 'H2O', 'U99', 'E11.12345']) assert.equal(validIcd10(c), false, c);
  assert.ok(validNanp('212', '555', '0299'));
  assert.equal(validNanp('911', '555', '0299'), false);
  assert.equal(validNanp('212', '411', '0299'), false);
  assert.equal(validNanp('212', '555', '0123'), false);
});

test('US SSN: dashed and isolated spaced forms alone, other forms with context, HICN suffix', () => {
  positives(
    'us_ssn',
    [
      '212-45-6789',
      'SSN: 212-45-6789.',
      'social security number 212 45 6789',
      'Her SS# is 212456789',
      'Soc. Sec. 212.45.6789',
      'ssn=212456789',
      '"ssn": "212456789"',
      'Medicare HICN 212-45-6789A on the old card',
      'SSNs on file: 212-45-6789 and 531-22-0871',
    ].map((s) => (s.startsWith('SSNs') ? ([s, 2] as [string, number]) : s)),
  );
  // a zero-width space or non-breaking hyphen from a rich-text editor does not hide it
  positives('us_ssn', ['212-45-\u200B6789', '212\u201145\u20116789']);
});

test('Medicare MBI: CMS positions, with or without dashes; lower case only with context', () => {
  positives('medicare_mbi', [
    '1EG4-TE5-MK73',
    'MBI 1EG4TE5MK73',
    'Medicare number: 9AA9-AA9-AA99',
    'medicare id 1eg4te5mk73',
    '2C09-E82-FJ07 (new card)',
  ]);
});

test('NPI: Luhn with the 80840 prefix and an NPI keyword within the window', () => {
  const a = npiFrom('245319599');
  positives('npi', [
    'NPI: 1234567893',
    `Referring provider NPI ${a}`,
    'National Provider Identifier\n1234567893',
    [`NPI 1234567893, ${a}`, 2],
    '{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}',
  ]);
});

test('DEA number: checksum and the word DEA', () => {
  positives('dea_number', ['DEA# AB1234563', 'Prescriber DEA: MB1234563']);
});

test('dates of birth: many formats, with context before (or "(DOB)" after)', () => {
  positives('date_of_birth', [
    'DOB: 01/02/1980',
    'D.O.B. 1/2/80',
    'Date of birth: 1980-01-02',
    'date of birth Jan 2, 1980',
    'born on January 2nd, 1980',
    'Born 2 January 1980 in Ohio',
    'DOB 02-Jan-1980',
    'birth date: 2nd of January 1980',
    'DOB 14.03.1962',
    'DOB: 19800102',
    '"birthDate": "1980-01-02"',
    '<dateOfBirth>1980-01-02</dateOfBirth>',
    'Jane Doe, 03/14/1962 (DOB)',
    'Age/DOB:\n  03/14/1962',
  ]);
});

test('clinical dates: admission, discharge, service and death dates', () => {
  positives('clinical_date', [
    'Admitted 03/04/2024 via the ED',
    'Discharge date: March 9, 2024',
    'Date of service: 2024-03-04',
    'DOS 3/4/24',
    'Date of death 2024-03-09',
  ]);
  assert.deepEqual(found('DOB: 03/14/1962, admitted 03/04/2024, discharged 03/09/2024'), [
    'date_of_birth[03/14/1962]',
    'clinical_date[03/04/2024]',
    'clinical_date[03/09/2024]',
  ]);
});

test('ICD-10-CM codes with diagnosis context, and lists that follow one', () => {
  positives('icd10', [
    'Dx: E11.9',
    'Diagnosis: I10',
    'ICD-10: S72.001A',
    'ICD10 code F32.A',
    'Primary dx E1165 (claims format)',
    'assessment: COVID-19 (U07.1)',
    ['Diagnoses: E11.9, I10, Z79.4', 3],
    [
      'Diagnoses: E11.9 Type 2 diabetes mellitus without complications; I10 Essential (primary) hypertension; F32.A Depression, unspecified',
      3,
    ],
    '"diagnosisCode": "J45.909"',
    'dx: e11.9',
  ]);
});

test('phone numbers: NANP formats with valid area and exchange codes', () => {
  positives('phone', [
    '(212) 555-0299',
    '(212)555-0299',
    '212-555-0299',
    '212.555.0299',
    '+1 212 555 0299',
    '+1-212-555-0299',
    '1 (212) 555-0299',
    '1-800-555-2345',
    '+12125550299',
    'Phone: 2125550299',
    'cell 212 555 0299',
    'Fax (646) 555-0300',
  ]);
});

test('postal addresses: street lines with suffix, unit, city, state and ZIP; PO boxes', () => {
  positives('postal_address', [
    '123 Main St',
    '123 Main Street, Springfield, IL 62704',
    '42 Elm Street, Apt 3B, Springfield, IL 62704-1234',
    '1600 Pennsylvania Ave NW, Washington, DC 20500',
    '350 5th Ave, New York, NY 10118',
    '77 N. Martin Luther King Jr Blvd',
    '8 OAK RIDGE RD',
    '123 Broadway, New York, NY 10001',
    '12 Harbor View\nPortland, ME 04101',
    'P.O. Box 1234',
    'PO Box 98, Austin, TX 78701',
    'The patient lives at 42 elm street',
  ]);
});

test('medical record numbers after their keyword', () => {
  positives('mrn', [
    'MRN: 004455667',
    'MRN 12345678',
    'Medical Record Number\n00123456',
    'Med Rec #: A1234567',
    'The MRN for this patient is E1234567',
    'Patient ID: 77-441-2093',
    'Chart # 48213',
    'pt id 1234567',
    'encounter #: 900123456',
    '"mrn": "12345678"',
    '<PatientID>12345678</PatientID>',
    '<td>MRN</td><td>12345678</td>'.replace(/<[^>]+>/g, ' '),
    ['MRNs: 12345678, 23456789 and 34567890', 3],
  ]);
});

test('insurance member, subscriber, policy and group ids after their keyword', () => {
  positives('insurance_member_id', [
    'Member ID: XYZ123456789',
    'Member ID: XYZ 123456789',
    'member #: W123456789',
    'Subscriber ID 123456789-01',
    'Policy number: 987654321A',
    'Group #: 00471',
    'Group number 123456',
    'Medicaid ID: 12345678',
    '"memberId": "H12345678"',
  ]);
});

test('context works across line breaks and is case-insensitive', () => {
  assert.deepEqual(found('dob\n\n01/02/1980'), ['date_of_birth[01/02/1980]']);
  assert.deepEqual(found('Npi:\n1234567893'), ['npi[1234567893]']);
  assert.deepEqual(found('DIAGNOSIS\r\nE11.9'), ['icd10[E11.9]']);
});

test('context is a small window: a keyword far before the value does not count', () => {
  const far = `DOB is below.${' filler words'.repeat(5)} 01/02/1980`;
  assert.deepEqual(found(far), []);
  const npiFar = `NPI on file.${' x'.repeat(30)} 1234567893`;
  assert.deepEqual(found(npiFar), []);
});

test('negative corpus: identifiers of other things, numbers, dates and codes without context', () => {
  const negatives = [
    // order, invoice and reference numbers
    'Order #123456789 has shipped.',
    'Amazon order 112-4567890-1234567',
    'Invoice INV-2024-555-1234, total $1,234.56 due 01/31/2026',
    'Invoice total: $12,345.67 (tax $987.65)',
    'Reference 1234567893 for your records',
    'Transaction 2125550299 approved',
    'Confirmation code 1234567890',
    'Account 4111 1111 1111 1111 was charged',
    // tracking numbers
    'UPS tracking 1Z999AA10123456784',
    'USPS 9400 1000 0000 0000 0000 00',
    'FedEx tracking 7489 1234 5678',
    // ISBNs
    'ISBN 978-0-306-40615-7',
    'ISBN 0-306-40615-2',
    // plain dates and times
    'The meeting is on 01/02/2024 at 10:30.',
    'Released 2024-01-02T10:30:00Z',
    'Office closed January 2, 2026 and Dec 24-26.',
    'Open 9:00-17:00, Mon-Fri',
    // ZIP codes alone, versions, IPs, prices, measures
    'Shipping to ZIP 90210',
    'ZIP+4 90210-1234',
    'Upgrade from v1.2.3 to 2.10.1',
    'Server 192.168.100.200 port 8080',
    'Screen 1920x1080, 4.5 GB, 123 45 67 89',
    'Lot 123-45-67890',
    // SSN look-alikes that are not SSNs
    'Sample SSN 123-45-6789 and 078-05-1120',
    '000-12-3456 666-12-3456 912-34-5678 212-00-3456 212-45-0000',
    // phones that are not NANP
    'Call 123-456-7890 or 212-155-0299 or 911',
    'Number 212 555 0299 3',
    // random 10-digit numbers without NPI context
    'Case 1234567893 opened',
    'Part no. 2245319599',
    // A10 and friends
    'Print on A10 paper, seat A10, gate B12, row C4A',
    'Vitamin B12 and D3, HbA1c 7.2%, T12 vertebra, H2O',
    'Flight UA1234 from gate E11',
    // MBI-like and ICD-like tokens in other contexts
    'Ticket 1eg4te5mk73',
    'Error code E11.9 in the printer log',
    // addresses that are not
    'Top 5 Tips For Your Way',
    '5 Steps To Find Your Place',
    'I walked 5 blocks down the road',
    'Take 2 tablets by mouth daily',
    // keywords without an id
    'Patient ID: pending. MRN to follow.',
    'Member ID card enclosed',
    'The policy number is on the back of your card.',
    // DEA-like without the keyword
    'SKU AB1234563',
  ];
  for (const text of negatives) assert.deepEqual(found(text), [], text);
});

test('DOB context introduces the first date after it only', () => {
  assert.deepEqual(found('DOB: 01/02/1980. Seen 03/04/2024 and 03/05/2024'), ['date_of_birth[01/02/1980]']);
});

test('a keyword-anchored id beats a bare number in an SSN keyword window', () => {
  assert.deepEqual(found('SSN: 212-45-6789, MRN 234567891'), ['us_ssn[212-45-6789]', 'mrn[234567891]']);
});

test('birthday is DOB context only as a label', () => {
  assert.deepEqual(found('Birthday: 01/02/1980'), ['date_of_birth[01/02/1980]']);
  assert.deepEqual(found('"birthday": "1980-01-02"'), ['date_of_birth[1980-01-02]']);
  assert.deepEqual(found('Happy birthday! Your 20% off ends 01/31/2026.'), []);
});

test('overlaps: the more specific kind wins', () => {
  assert.deepEqual(found('Member ID: 1EG4-TE5-MK73'), ['medicare_mbi[1EG4-TE5-MK73]']);
  assert.deepEqual(found('Member ID: 212-45-6789'), ['us_ssn[212-45-6789]']);
  assert.deepEqual(found('Patient ID: 212-555-0299'), ['mrn[212-555-0299]']);
});

test('phone numbers and addresses are PHI only with patient context; NPI and DEA never', () => {
  const byKind = (text: string) => scanText(text, NOW).map((f) => `${f.kind}:${f.phi}`);
  assert.deepEqual(byKind('Sunrise Clinic, Tel 212-555-0299'), ['phone:false']);
  assert.deepEqual(byKind('Call Member Services at 1-800-555-2345'), ['phone:false']);
  assert.deepEqual(byKind('Home | About | Contact 212-555-0299'), ['phone:false']);
  assert.deepEqual(byKind('Emergency contact (mother): 212-555-0299'), ['phone:true']);
  assert.deepEqual(byKind('Home: 212-555-0299'), ['phone:true']);
  assert.deepEqual(byKind('Patient home phone 212-555-0299'), ['phone:true']);
  assert.deepEqual(byKind('Clinic: 100 Medical Center Dr, Springfield, IL 62704'), ['postal_address:false']);
  assert.deepEqual(byKind('Patient address: 42 Elm Street'), ['postal_address:true']);
  assert.deepEqual(byKind('NPI 1234567893, DEA AB1234563'), ['npi:false', 'dea_number:false']);
  assert.deepEqual(byKind('MRN 12345678'), ['mrn:true']);
});

test('offsets map back to the original text when invisible characters were removed', () => {
  const text = 'x\u200B\u200By SSN 212-45-\u00AD6789 end';
  const [f] = scanText(text, NOW);
  assert.ok(f);
  assert.equal(text.slice(f.start, f.end), '212-45-\u00AD6789');
});
