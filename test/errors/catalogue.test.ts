import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type CatalogueEntry, catalogue, errorsReference, SealpostError } from '../../src/errors/index.ts';

test('docs/errors.md is the reference generated from the catalogue', () => {
  const onDisk = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  assert.equal(onDisk, errorsReference(), 'run: bin/sealpost errors --docs > docs/errors.md');
});

test('sealpost errors --docs prints the reference', () => {
  const printed = execFileSync(
    new URL('../../bin/sealpost', import.meta.url).pathname,
    ['errors', '--docs'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(printed, errorsReference());
});

test('every code is snake case, refuses with a 4xx or 5xx, and gives a temporary SMTP reply only when HTTP would too', () => {
  for (const [code, entry] of Object.entries(catalogue) as [string, CatalogueEntry][]) {
    assert.match(code, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/, code);
    for (const status of [entry.status, ...(entry.also ?? [])])
      assert.ok(status >= 400 && status < 600, code);
    assert.ok(!entry.also?.includes(entry.status), `${code} lists its own status again`);
    if (entry.smtp) {
      const temporary = entry.smtp.code >= 400 && entry.smtp.code < 500;
      assert.equal(entry.smtp.enhanced[0], temporary ? '4' : '5', code);
      assert.equal(temporary, entry.status === 429 || entry.status >= 500, code);
    }
  }
});

test('an error takes its status from the catalogue, or one of the others the catalogue lists for it', () => {
  assert.equal(new SealpostError('idempotency_key_reused', 'reused').status, 409);
  assert.equal(new SealpostError('sso_required', 'sso only').status, 403);
  assert.equal(new SealpostError('sso_required', 'sso only', { status: 409 }).status, 409);
  // @ts-expect-error a code outside the catalogue does not compile
  void (() => new SealpostError('no_such_code', 'nothing'));
  // @ts-expect-error nor does a status the catalogue does not list for the code
  void (() => new SealpostError('sso_required', 'sso only', { status: 500 }));
});
