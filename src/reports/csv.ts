import { csvCell } from '../audit/index.ts';
import type { Period } from './period.ts';

// Report downloads: RFC 4180 rows through the audit export's cell writer (which also defuses
// cells a spreadsheet would run as formulas), after a few lines starting with "#" that say what
// the file is. Those lines hold only the report's name, its period, its settings and counts.

export const csvRow = (cells: readonly unknown[]) => `${cells.map(csvCell).join(',')}\n`;

export function csvPreamble(
  report: string,
  period: Period,
  generatedAt: Date,
  lines: readonly string[] = [],
): string {
  return [
    `Sealpost ${report} report`,
    `period: ${period.from.toISOString()} to ${period.to.toISOString()} (time zone ${period.tz})`,
    `generated: ${generatedAt.toISOString()}`,
    ...lines,
  ]
    .map((line) => `# ${line.replace(/[\r\n]+/g, ' ')}\n`)
    .join('');
}

export function csvFilename(report: string, period: Period): string {
  const stamp = (d: Date) =>
    d
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
  return `sealpost-${report}-report-${stamp(period.from)}-${stamp(period.to)}.csv`;
}
