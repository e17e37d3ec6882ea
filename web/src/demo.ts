// What `sealpost demo` prints (src/sandbox/demo.ts, demoCommands), for the console's first page in
// sandbox mode. test/console/console.test.ts checks that the two stay the same.

export const DEMO_FROM = { name: 'Demo Clinic', address: 'care@demo.sealpost.test' };
export const DEMO_RECIPIENTS = [
  'patient@tls.example.test',
  'patient@notls.example.test',
  'patient@badcert.example.test',
  'pgp-patient@tls.example.test',
  'smime-patient@tls.example.test',
];
export const DEMO_MESSAGE = {
  from: DEMO_FROM,
  to: DEMO_RECIPIENTS,
  subject: 'Your lab results',
  text: 'Dear patient, your results are ready. MRN: 5551234, DOB: 04/12/1961.',
};

/** The three try-it commands, with the API key left for the reader to fill in. */
export function demoCommands(url: string, apiKey: string): string[] {
  const auth = `-H "Authorization: Bearer ${apiKey}"`;
  return [
    `curl -s ${auth} -H "Content-Type: application/json" -d '${JSON.stringify(DEMO_MESSAGE)}' ${url}/v1/messages`,
    `curl -s ${auth} "${url}/v1/messages?limit=1"`,
    `curl -s ${auth} ${url}/v1/sandbox/messages`,
  ];
}
