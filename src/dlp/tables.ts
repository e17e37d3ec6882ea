/**
 * Tables put a value's context in the header row, far from the value ("Name,DOB,MRN" then a
 * thousand rows). These helpers rewrite a table as "header: value" lines so that each cell
 * carries its column's name as context. The scan counts each kind as the larger of the plain
 * view and the labelled view, so a key/value table (whose own rows are the context) loses
 * nothing and a patient list counts every row.
 */

const MAX_LABEL = 40;

/** Parses delimited text (RFC 4180 quoting, CRLF or LF). Linear. */
export function parseDelimited(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  const n = text.length;
  const d = delimiter.charCodeAt(0);
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 && field === '') {
      // quoted field
      i++;
      const parts: string[] = [];
      let start = i;
      while (i < n) {
        const q = text.indexOf('"', i);
        if (q < 0) {
          parts.push(text.slice(start));
          i = n;
          break;
        }
        if (text.charCodeAt(q + 1) === 34) {
          parts.push(text.slice(start, q + 1));
          i = q + 2;
          start = i;
          continue;
        }
        parts.push(text.slice(start, q));
        i = q + 1;
        break;
      }
      field = parts.join('');
      continue;
    }
    if (c === d) {
      row.push(field);
      field = '';
      i++;
      continue;
    }
    if (c === 10 || c === 13) {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += c === 13 && text.charCodeAt(i + 1) === 10 ? 2 : 1;
      continue;
    }
    let j = i;
    while (j < n) {
      const e = text.charCodeAt(j);
      if (e === d || e === 10 || e === 13) break;
      j++;
    }
    field += text.slice(i, j);
    i = j;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** The likelier delimiter of a delimited file, from its first line. */
export function sniffDelimiter(text: string): string {
  const nl = text.indexOf('\n');
  const first = text.slice(0, nl < 0 ? Math.min(text.length, 4096) : Math.min(nl, 4096));
  const count = (ch: string) => first.split(ch).length - 1;
  const candidates: [string, number][] = [
    [',', count(',')],
    ['\t', count('\t')],
    [';', count(';')],
    ['|', count('|')],
  ];
  candidates.sort((a, b) => b[1] - a[1]);
  return candidates[0]![1] > 0 ? candidates[0]![0] : ',';
}

/**
 * A header row holds names, not values: no cell with three digits or more. A key/value table
 * ("DOB | 01/02/1980") or a headerless export is not labelled: its own rows are the context.
 */
function looksLikeHeader(row: string[]): boolean {
  for (const cell of row) {
    let digits = 0;
    for (let i = 0; i < cell.length; i++) {
      const c = cell.charCodeAt(i);
      if (c >= 48 && c <= 57 && ++digits >= 3) return false;
    }
  }
  return true;
}

function label(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > MAX_LABEL ? t.slice(0, MAX_LABEL) : t;
}

/**
 * Rows as text: the header row as a line, then each later row as "header: value" lines (empty
 * cells left out) and a blank line. Returns null when the result would be much larger than the
 * input (a wide header over mostly empty cells), so the caller scans the plain view only.
 */
export function labelRows(rows: string[][], budget: number): string | null {
  const header = rows[0];
  if (!header || rows.length < 2 || !looksLikeHeader(header)) return null;
  const labels = header.map(label);
  const out: string[] = [header.join('\t'), '\n\n'];
  let size = 0;
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r]!;
    for (let c = 0; c < row.length; c++) {
      const v = row[c]!;
      if (v.trim() === '') continue;
      const l = labels[c] ?? '';
      out.push(l, ': ', v, '\n');
      size += l.length + v.length + 3;
    }
    out.push('\n');
    if (size > budget) return null;
  }
  return out.join('');
}

export interface TabularRegion {
  /** Offsets of the run of lines in the text (end exclusive). */
  start: number;
  end: number;
  /** The run as "header: value" lines. */
  labelled: string;
}

/**
 * Finds runs of two or more lines with the same number (at least one) of tabs, blank lines
 * between them allowed, as HTML tables and pasted spreadsheets give, whose first line looks like
 * a header, and labels each run.
 */
export function findTabular(text: string): TabularRegion[] {
  if (!text.includes('\t')) return [];
  const lines = text.split('\n');
  const starts: number[] = [];
  const tabs: number[] = [];
  let offset = 0;
  for (const l of lines) {
    starts.push(offset);
    offset += l.length + 1;
    let t = 0;
    for (let i = l.indexOf('\t'); i >= 0; i = l.indexOf('\t', i + 1)) t++;
    tabs.push(t);
  }
  const blank = (k: number) => tabs[k] === 0 && lines[k]!.trim() === '';
  const regions: TabularRegion[] = [];
  let i = 0;
  while (i < lines.length) {
    const t = tabs[i]!;
    let j = i + 1;
    let rowCount = 1;
    if (t > 0) {
      for (let k = j; k < lines.length; k++) {
        if (tabs[k] === t) {
          rowCount++;
          j = k + 1;
        } else if (!blank(k)) break;
      }
    }
    if (t > 0 && rowCount >= 2) {
      const rows = lines
        .slice(i, j)
        .filter((l) => l.includes('\t'))
        .map((l) => l.split('\t'));
      const labelled = labelRows(rows, 4 * (starts[j - 1]! + lines[j - 1]!.length - starts[i]!) + 1024);
      if (labelled !== null) {
        regions.push({ start: starts[i]!, end: starts[j - 1]! + lines[j - 1]!.length, labelled });
      }
    }
    i = j;
  }
  return regions;
}
