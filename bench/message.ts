// The worker's per-message computing, one step at a time, in this process: building the 10 KB
// message of bench/secureline.ts with nodemailer, and signing it with DKIM (RSA-2048 and Ed25519).
// Prints CPU time per message; whole runs of secureline.ts are too noisy to show changes this size.
//   node --disable-warning=ExperimentalWarning bench/message.ts [--count=3000]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { generateDkimKeys } from '../src/domains/dkim.ts';
import type { MessageContent } from '../src/messages/index.ts';
import { buildMessage, signDkim } from '../src/secureline/index.ts';
import { machineLine } from './support.ts';

const { values } = parseArgs({ options: { count: { type: 'string', default: '3000' } }, strict: false });
const COUNT = Number(values.count);

const content = {
  from: { address: 'notify@bench.test' },
  to: [{ address: 'patient1@tls.test' }],
  cc: [],
  bcc: [],
  reply_to: [],
  subject: 'Your appointment reminder 1',
  text: randomBytes(7680)
    .toString('base64')
    .replace(/(.{76})/g, '$1\n'),
  headers: {},
  attachments: [],
} as unknown as MessageContent;
const keys = generateDkimKeys().map((k) => ({
  selector: k.selector,
  algorithm: k.algorithm,
  privateKeyPem: k.privateKeyPem,
}));

/** CPU microseconds per call of `fn`, after a tenth of the calls as warm-up. */
async function cpuPerCall(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < COUNT / 10; i++) await fn();
  const before = process.cpuUsage();
  for (let i = 0; i < COUNT; i++) await fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / COUNT;
}

const now = new Date();
const raw = await buildMessage(content, '<bench@bench.test>', now);
const rsa = keys.filter((k) => k.algorithm === 'rsa-sha256');
const ed = keys.filter((k) => k.algorithm === 'ed25519-sha256');
const rows: [string, number][] = [
  [
    'build (nodemailer, 10 KB text)',
    await cpuPerCall(() => buildMessage(content, '<bench@bench.test>', now)),
  ],
  ['DKIM, RSA-2048 + Ed25519', await cpuPerCall(() => signDkim(raw, 'bench.test', keys, now))],
  ['DKIM, RSA-2048 only', await cpuPerCall(() => signDkim(raw, 'bench.test', rsa, now))],
  ['DKIM, Ed25519 only', await cpuPerCall(() => signDkim(raw, 'bench.test', ed, now))],
];
console.log(
  [
    'Sealpost message build and DKIM signing, CPU per message',
    `Machine: ${machineLine()}`,
    '',
    `${'step'.padEnd(34)}${'µs'.padStart(8)}`,
    ...rows.map(([name, us]) => `${name.padEnd(34)}${Math.round(us).toString().padStart(8)}`),
  ].join('\n'),
);
