import { settings } from './schema.ts';

/** docs/configuration.md, generated from the schema (`sealpost config --docs`). */
export function configurationReference(): string {
  const lines = [
    '# Configuration reference',
    '',
    'Generated from `src/config/schema.ts` by `sealpost config --docs`; do not edit by hand.',
    '',
    'Every setting is an environment variable. `SEALPOST_CONFIG_FILE` may name a JSON file with the',
    'same settings (keys as the variable names or the camelCase names below); the environment wins.',
    'Sealpost checks everything at start and names every mistake at once.',
    '',
    '| Variable | Key | Type | Default | Description |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const s of settings) {
    const type = s.enum ? s.enum.join(' \\| ') : s.type;
    const fallback =
      typeof s.default === 'function' ? 'derived' : s.default !== undefined ? `\`${s.default}\`` : '(unset)';
    lines.push(
      `| \`${s.env}\` | ${s.key} | ${type} | ${fallback} | ${s.description.replace(/\|/g, '\\|')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
