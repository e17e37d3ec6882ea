// Checks for the console's pages in Chromium: axe-core run inside the page itself (the app is a
// single-page application: re-rendering its markup elsewhere would start it again without the
// session), and a record of every CSP violation or script error the page reports.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { type AxeViolation, screenshot } from '../support/browser.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Collects CSP violations and uncaught errors from a page, from now on. */
export function watchPage(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return problems;
}

/** axe-core (WCAG 2.0-2.2 A and AA) on the page as it is now; fails on serious or critical findings. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await screenshot(page, `console-${name}`);
  // Playwright's evaluation runs outside the page's CSP, so axe needs no exception in it.
  const loaded = await page.evaluate('typeof axe !== "undefined"');
  if (!loaded) await page.evaluate(AXE);
  const result = (await page.evaluate(() =>
    (globalThis as unknown as { axe: { run(o: object): Promise<unknown> } }).axe.run({
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    }),
  )) as { violations: AxeViolation[] };
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    serious.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `${name}: axe-core violations`,
  );
}
