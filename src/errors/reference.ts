import { type CatalogueEntry, catalogue } from './catalogue.ts';

/** docs/errors.md, generated from the catalogue (`sealpost errors --docs`). */
export function errorsReference(): string {
  const lines = [
    '# Error codes',
    '',
    'Generated from `src/errors/catalogue.ts` by `sealpost errors --docs`; do not edit by hand.',
    '',
    'Every refusal of the HTTP API is an RFC 9457 problem (`application/problem+json`) whose `code`',
    'is one of these and stays stable: match on the code, not on the wording of `detail`. The SMTP',
    'reply is what the SMTP gateway answers where the refusal can meet a message arriving by SMTP.',
    '',
    '| Code | HTTP status | SMTP reply | Description |',
    '| --- | --- | --- | --- |',
  ];
  for (const [code, entry] of Object.entries(catalogue) as [string, CatalogueEntry][]) {
    const statuses = [entry.status, ...(entry.also ?? [])].join(', ');
    const smtp = entry.smtp ? `${entry.smtp.code} ${entry.smtp.enhanced}` : '—';
    lines.push(`| \`${code}\` | ${statuses} | ${smtp} | ${entry.description.replace(/\|/g, '\\|')} |`);
  }
  return `${lines.join('\n')}\n`;
}
