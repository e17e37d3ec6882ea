import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { htmlToText, scanMessage, scanText } from '../../src/dlp/index.ts';

const MB = 1024 * 1024;

function fill(unit: string): string {
  return unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB);
}

/**
 * Inputs built to trip backtracking: long runs that almost match each detector, keywords with no
 * value, separators without digits, and markup without ends. Each must scan a megabyte in well
 * under a second (the budget leaves room for slow CI machines; typical times are printed).
 */
const ADVERSARIAL: [string, string][] = [
  ['digits', fill('1')],
  ['digits and dashes', fill('1-')],
  ['digit groups', fill('212-45-')],
  ['spaced digits', fill('212 ')],
  ['dotted digits', fill('1.')],
  ['slashed digits', fill('1/2/')],
  ['letters and digits', fill('A1')],
  ['MBI prefix', fill('1EG4TE5MK7')],
  ['capitalised words', fill('Main ')],
  ['number and words', fill('1 Main Main Main Main Main Main ')],
  ['street without suffix', fill('123 North Main Oak Elm, Springfield Springfield Springfield,')],
  ['keywords without values', fill('MRN member id DOB NPI dx ')],
  ['keyword and fillers', fill('MRN is the patient number of the ')],
  ['ICD list', fill('Dx A10.1 ')],
  ['dates', fill('DOB 01/02/1980 ')],
  ['month names', fill('January 2, ')],
  ['phones', fill('(212) 555-')],
  ['whitespace', fill(' \t\n')],
  ['invisible characters', fill('1\u200B')],
  ['tabs', fill('a\tb\n')],
];

// A guard against catastrophic backtracking, not a speed claim (bench/dlp.ts measures speed): a
// regular expression that backtracks takes minutes on these inputs, a linear one a fraction of a
// second. The bound leaves room for a busy 2-core machine running other test files alongside.
const LIMIT_MS = 5000;

test('scanText: 1 MB adversarial inputs complete in seconds, not minutes', () => {
  const lines: string[] = [];
  for (const [name, text] of ADVERSARIAL) {
    const start = performance.now();
    scanText(text);
    const ms = performance.now() - start;
    lines.push(`${name}: ${ms.toFixed(0)} ms`);
    assert.ok(ms < LIMIT_MS, `${name} took ${ms.toFixed(0)} ms`);
  }
  process.stdout.write(`# ${lines.join(', ')}\n`);
});

test('htmlToText and scanMessage: 1 MB adversarial markup completes in seconds, not minutes', () => {
  const inputs: [string, string][] = [
    ['open angles', fill('<')],
    ['unclosed tags', fill('<a ')],
    ['unclosed attribute', `<a title="${fill('x')}`],
    ['unclosed comment', `<!--${fill('-')}`],
    ['unclosed script', `<script>${fill('<')}`],
    ['many scripts', fill('<script></script>')],
    ['entities', fill('&amp;&#1;&#x')],
    ['table cells', fill('<tr><td>1</td><td>2</td></tr>')],
  ];
  for (const [name, html] of inputs) {
    const start = performance.now();
    htmlToText(html);
    scanMessage({ html });
    const ms = performance.now() - start;
    assert.ok(ms < LIMIT_MS, `${name} took ${ms.toFixed(0)} ms`);
  }
  const csv = fill('"a,b",,,"\n');
  const start = performance.now();
  scanMessage({ attachments: [{ filename: 'x.csv', content: Buffer.from(csv) }] });
  assert.ok(performance.now() - start < LIMIT_MS);
});
