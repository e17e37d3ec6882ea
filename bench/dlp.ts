// DLP scan throughput: a realistic 20 KB clinical letter, 1 MB of mixed text, and the same letter
// as HTML through scanMessage.
//   node --disable-warning=ExperimentalWarning bench/dlp.ts [--seconds=2]
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { scanMessage, scanText } from '../src/dlp/index.ts';

export interface DlpBenchRow {
  scenario: string;
  bytes: number;
  runs: number;
  seconds: number;
  mbPerSecond: number;
  findings: number;
}

const NARRATIVE = [
  'She reports good adherence to her medications and denies chest pain, dyspnea on exertion, orthopnea or palpitations.',
  'Home glucose readings have ranged from 140 to 220 mg/dL fasting, higher after meals, with no hypoglycemic episodes.',
  'She walks 20 minutes three times a week and has reduced sugary drinks; weight is down 2.5 kg since the last visit.',
  'Review of systems is otherwise negative. She sleeps 6 to 7 hours a night and does not smoke; alcohol 1 to 2 drinks a week.',
  'On examination BP 138/84, pulse 76 regular, BMI 31.2. Heart sounds normal, chest clear, no peripheral oedema.',
  'Monofilament sensation is reduced at both great toes; pedal pulses are present. Fundoscopy deferred to ophthalmology.',
  'We discussed the risks and benefits of adding a GLP-1 receptor agonist and she would like to consider it at follow-up.',
];

/** A referral letter of about 20 KB: demographics, history, labs, plan and a signature. */
export function clinicalLetter(targetBytes = 20 * 1024): string {
  const head = `RE: Referral for Mrs. Maria Gonzalez (DOB 7/23/1958), MRN 00884213

Dear Dr. Patel,

Thank you for seeing Mrs. Gonzalez, who was admitted on 12/02/2025 and discharged December 6, 2025.
Medicare number 5TN7-YR4-KW82. Secondary insurance: Aetna, member ID W228419035, group no. 0187342.
She lives at 1187 W. Cedar Ridge Rd, Apt 12, Tucson, AZ 85745; home phone 520.555.0377.

Past medical history:
1. Type 2 diabetes mellitus with hyperglycemia (E11.65), diagnosed 2011.
2. Essential hypertension (I10).
3. Chronic kidney disease stage 3a (N18.31).
4. Mixed hyperlipidemia (E78.2).

Medications: metformin 1000 mg twice daily; lisinopril 20 mg daily; atorvastatin 40 mg nightly.
Allergies: penicillin (rash).

Labs (11/28/2025):
Test\tResult\tUnits\tReference
HbA1c\t8.4\t%\t4.0-5.6
Creatinine\t1.3\tmg/dL\t0.6-1.1
eGFR\t52\tmL/min/1.73m2\t>60
LDL\t112\tmg/dL\t<100

History of present illness:
`;
  const tail = `
Assessment and plan: continue current therapy, repeat HbA1c in 3 months, nephrology review.

Sincerely,
Anil Patel, MD, NPI 1234567893
Desert Family Medicine, 4400 E Broadway Blvd, Suite 300, Tucson, AZ 85711
Tel (520) 555-0400, Fax (520) 555-0401
`;
  const parts = [head];
  let size = head.length + tail.length;
  for (let i = 0; size < targetBytes; i++) {
    const line = `${NARRATIVE[i % NARRATIVE.length]} `;
    parts.push(line);
    if (i % 4 === 3) parts.push('\n\n');
    size += line.length;
  }
  parts.push(tail);
  return parts.join('');
}

const BUSINESS = `Your order #W1234567 has shipped! Order placed 01/05/2026, estimated delivery Jan 9, 2026.
Tracking 1Z999AA10123456784. 2 x USB-C cable ($12.99), 1 x Monitor Stand ($45.00). Total $76.66.
Release notes v3.14.2 (2026-01-10): fixed bug #4521, build 20260110.1. Meeting ID 845 2231 9087.
Agenda: 9:00 Welcome, 9:30 Keynote (Room A10), 12:30-13:30 Lunch. Invoice 2026-0042, PO # 4500012345.
`;
const LOG = `2026-01-10T10:30:00.123Z INFO request id=8f14e45f method=POST path=/v1/messages status=202 ms=12
2026-01-10T10:30:01.456Z WARN retry attempt=2 host=mx1.example.net:25 code=421 queue=17
`;
const CSV = `Name,DOB,MRN,Phone
"Doe, Jane",01/02/1980,12345678,(212) 555-0299
"Roe, Rick",03/04/1975,23456789,(212) 555-0300
`;

/** About 1 MB mixing clinical letters, business mail, logs, CSV and prose. */
export function mixedText(targetBytes = 1024 * 1024): string {
  const blocks = [clinicalLetter(6 * 1024), BUSINESS, LOG, CSV, NARRATIVE.join(' '), BUSINESS, LOG];
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < targetBytes; i++) {
    const b = blocks[i % blocks.length]!;
    parts.push(b, '\n');
    size += b.length + 1;
  }
  return parts.join('').slice(0, targetBytes);
}

function letterHtml(letter: string): string {
  const body = letter
    .split('\n')
    .map((line) =>
      line.includes('\t')
        ? `<tr>${line
            .split('\t')
            .map((c) => `<td>${c.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</td>`)
            .join('')}</tr>`
        : `<p style="margin:0">${line.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</p>`,
    )
    .join('\n');
  return `<!DOCTYPE html><html><head><style>p{font-family:Arial}</style></head><body>${body}</body></html>`;
}

function measure(scenario: string, bytes: number, seconds: number, fn: () => number): DlpBenchRow {
  let findings = fn(); // warm up
  for (let i = 0; i < 3; i++) fn();
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  let runs = 0;
  while (performance.now() < deadline || runs === 0) {
    findings = fn();
    runs++;
  }
  const elapsed = (performance.now() - start) / 1000;
  return {
    scenario,
    bytes,
    runs,
    seconds: elapsed,
    mbPerSecond: (bytes * runs) / elapsed / (1024 * 1024),
    findings,
  };
}

export function runDlpBench(options: { seconds?: number } = {}): DlpBenchRow[] {
  const seconds = options.seconds ?? 2;
  const letter = clinicalLetter();
  const mixed = mixedText();
  const html = letterHtml(letter);
  return [
    measure(
      'scanText, 20 KB clinical letter',
      Buffer.byteLength(letter),
      seconds,
      () => scanText(letter).length,
    ),
    measure('scanText, 1 MB mixed text', Buffer.byteLength(mixed), seconds, () => scanText(mixed).length),
    measure(
      'scanMessage, letter as text + HTML',
      Buffer.byteLength(letter) + Buffer.byteLength(html),
      seconds,
      () => scanMessage({ subject: 'Referral', text: letter, html }).findings.length,
    ),
    measure(
      'scanMessage, 1 MB text attachment',
      Buffer.byteLength(mixed),
      seconds,
      () =>
        scanMessage({ attachments: [{ filename: 'notes.txt', content: Buffer.from(mixed) }] }).findings
          .length,
    ),
  ];
}

export function formatDlpBench(rows: DlpBenchRow[]): string {
  const cpu = cpus();
  const lines = [
    `Sealpost DLP benchmark, ${new Date().toISOString().slice(0, 10)}`,
    `Machine: ${cpu.length} cores, ${cpu[0]?.model.trim() ?? 'unknown CPU'}; Node ${process.version}`,
    'One thread; findings = kinds found (scanMessage) or findings (scanText) per run.',
    '',
    `${'scenario'.padEnd(38)}${'bytes'.padStart(10)}${'runs'.padStart(7)}${'MB/s'.padStart(9)}${'findings'.padStart(10)}`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.scenario.padEnd(38)}${String(r.bytes).padStart(10)}${String(r.runs).padStart(7)}${r.mbPerSecond.toFixed(1).padStart(9)}${String(r.findings).padStart(10)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  const arg = process.argv.find((a) => a.startsWith('--seconds='));
  const seconds = arg ? Number(arg.slice('--seconds='.length)) : 2;
  process.stdout.write(formatDlpBench(runDlpBench({ seconds })));
}
