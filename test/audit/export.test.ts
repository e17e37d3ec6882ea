import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, test } from 'node:test';
import {
  type AuditInput,
  appendAudit,
  csvCell,
  exportAudit,
  listAuditEvents,
} from '../../src/audit/index.ts';
import { SealpostError } from '../../src/errors/index.ts';
import { describeEachDb } from '../support/db.ts';

/** A strict RFC 4180 reader, to check that what the export writes reads back as it was. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (c === '"') {
        quoted = false;
        i++;
        assert.ok(i >= text.length || /[,\r\n]/.test(text[i]!), `text after a closing quote at ${i}`);
        continue;
      }
      cell += c;
      i++;
      continue;
    }
    if (c === '"') {
      assert.equal(cell, '', `a quote inside an unquoted cell at ${i}`);
      quoted = true;
    } else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else {
      cell += c;
    }
    i++;
  }
  assert.ok(!quoted, 'an unterminated quoted cell');
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const HOUR = 3_600_000;

describeEachDb('audit export', (suite) => {
  const orgId = randomUUID();
  const otherOrg = randomUUID();

  // Ten events an hour apart: actors alice (even) and bob (odd), objects key0..key4 twice over.
  before(async () => {
    for (let i = 0; i < 10; i++) {
      const input: AuditInput = {
        orgId,
        actor: {
          type: 'user',
          id: i % 2 === 0 ? 'alice-id' : 'bob-id',
          label: i % 2 === 0 ? 'alice' : 'bob',
        },
        action: i === 9 ? 'api_key.revoked' : 'api_key.created',
        objectType: 'api_key',
        objectId: `key${i % 5}`,
        outcome: i === 7 ? 'denied' : 'success',
        ip: '2001:db8::1',
        requestId: `req-${i}`,
        details: { i },
      };
      await appendAudit(suite.db, input, { clock: () => new Date(T0 + i * HOUR) });
      await appendAudit(suite.db, { ...input, orgId: otherOrg }, { clock: () => new Date(T0 + i * HOUR) });
    }
    // Cells a spreadsheet would run as formulas, or that need quoting.
    await appendAudit(
      suite.db,
      {
        orgId,
        actor: { type: 'api_key', id: '=cmd|" /C calc"!A0', label: '+SUM(1,2)' },
        action: 'user.updated',
        objectType: 'user',
        objectId: '@evil, "quoted"\nline two',
        outcome: 'failure',
        ip: '-1',
        requestId: null,
        details: { note: '=HYPERLINK("http://x")', list: ['a,b', 'c"d'] },
      },
      { clock: () => new Date(T0 + 20 * HOUR) },
    );
  });

  const seqs = async (filter: Parameters<typeof listAuditEvents>[1]) =>
    (await listAuditEvents(suite.db, filter, { limit: 1000 })).events.map((e) => e.seq);

  test('filters by time window (from inclusive, to exclusive), actor, object and action; one org only', async () => {
    assert.deepEqual(await seqs({ orgId }), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual(
      await seqs({ orgId, from: new Date(T0 + 2 * HOUR), to: new Date(T0 + 5 * HOUR) }),
      [3, 4, 5],
    );
    assert.deepEqual(await seqs({ orgId, from: new Date(T0 + 8 * HOUR) }), [9, 10, 11]);
    assert.deepEqual(await seqs({ orgId, to: new Date(T0 + HOUR) }), [1]);
    assert.deepEqual(await seqs({ orgId, actorId: 'bob-id' }), [2, 4, 6, 8, 10]);
    assert.deepEqual(await seqs({ orgId, objectType: 'api_key', objectId: 'key2' }), [3, 8]);
    assert.deepEqual(await seqs({ orgId, objectType: 'user' }), [11]);
    assert.deepEqual(await seqs({ orgId, action: 'api_key.revoked' }), [10]);
    assert.deepEqual(
      await seqs({ orgId, actorId: 'alice-id', from: new Date(T0 + 3 * HOUR), to: new Date(T0 + 7 * HOUR) }),
      [5, 7],
    );
    assert.deepEqual(await seqs({ orgId: randomUUID() }), []);
    const other = await listAuditEvents(suite.db, { orgId: otherOrg }, { limit: 1000 });
    assert.ok(other.events.every((e) => e.orgId === otherOrg));
    assert.equal(other.events.length, 10);
  });

  test('pages follow a cursor to the end, oldest first', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<typeof listAuditEvents>> = await listAuditEvents(
        suite.db,
        { orgId, actorId: 'alice-id' },
        { limit: 2, cursor },
      );
      seen.push(...page.events.map((e) => e.seq));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    assert.deepEqual(seen, [1, 3, 5, 7, 9]);
    assert.equal(pages, 3);
    await assert.rejects(
      listAuditEvents(suite.db, { orgId }, { cursor: 'bm9wZQ' }),
      (err: unknown) => err instanceof SealpostError && err.code === 'bad_request',
    );
  });

  test('JSON lines: one event object per line, with its hashes', async () => {
    const lines = await collect(
      exportAudit(suite.db, { orgId, from: new Date(T0 + 8 * HOUR) }, 'jsonl', { pageSize: 2 }),
    );
    const events = lines.map((l) => JSON.parse(l));
    assert.deepEqual(
      events.map((e) => e.seq),
      [9, 10, 11],
    );
    assert.equal(events[0].occurred_at, '2026-03-01T08:00:00.000Z');
    assert.equal(events[0].actor_id, 'alice-id');
    assert.equal(events[0].outcome, 'success');
    assert.deepEqual(events[0].details, { i: 8 });
    assert.match(events[0].hash, /^[0-9a-f]{64}$/);
    assert.equal(events[1].prev_hash, events[0].hash);
    assert.equal(events[2].object_id, '@evil, "quoted"\nline two', 'JSON lines keep values as they are');
    assert.ok(lines.every((l) => !l.includes('\n')));
  });

  test('CSV: a header row, RFC 4180 quoting, and no cell a spreadsheet would run as a formula', async () => {
    const lines = await collect(exportAudit(suite.db, { orgId }, 'csv', { pageSize: 3 }));
    const rows = parseCsv(`${lines.join('\n')}\n`);
    const [header, ...data] = rows;
    assert.deepEqual(header, [
      'org_id',
      'seq',
      'event_id',
      'occurred_at',
      'actor_type',
      'actor_id',
      'actor_label',
      'action',
      'object_type',
      'object_id',
      'outcome',
      'ip',
      'request_id',
      'details',
      'prev_hash',
      'hash',
    ]);
    assert.equal(data.length, 11);
    const col = (name: string) => header!.indexOf(name);
    const first = data[0]!;
    assert.equal(first[col('seq')], '1');
    assert.equal(first[col('occurred_at')], '2026-03-01T00:00:00.000Z');
    assert.equal(first[col('ip')], '2001:db8::1');
    assert.deepEqual(JSON.parse(first[col('details')]!), { i: 0 });
    assert.equal(data[1]![col('prev_hash')], first[col('hash')]);

    const evil = data[10]!;
    assert.equal(evil[col('actor_id')], `'=cmd|" /C calc"!A0`);
    assert.equal(evil[col('actor_label')], `'+SUM(1,2)`);
    assert.equal(evil[col('object_id')], `'@evil, "quoted"\nline two`);
    assert.equal(evil[col('ip')], `'-1`);
    assert.equal(evil[col('request_id')], '');
    assert.deepEqual(JSON.parse(evil[col('details')]!), {
      list: ['a,b', 'c"d'],
      note: '=HYPERLINK("http://x")',
    });
    for (const row of data) {
      for (const cell of row) assert.ok(!/^[=+\-@\t\r]/.test(cell), `formula-like cell ${cell}`);
    }

    const filtered = await collect(exportAudit(suite.db, { orgId, actorId: 'bob-id' }, 'csv'));
    assert.equal(filtered.length, 1 + 5);
    const empty = await collect(exportAudit(suite.db, { orgId, from: new Date(T0 + 100 * HOUR) }, 'csv'));
    assert.equal(empty.length, 1, 'only the header');
  });

  test('csvCell quotes and guards', () => {
    assert.equal(csvCell('plain'), 'plain');
    assert.equal(csvCell(null), '');
    assert.equal(csvCell(42), '42');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('two\r\nlines'), '"two\r\nlines"');
    assert.equal(csvCell('=1+1'), "'=1+1");
    assert.equal(csvCell('\t=1'), "'\t=1");
    assert.equal(csvCell('-2,3'), `"'-2,3"`);
  });

  test('a wrong filter or format is refused before the first line', () => {
    assert.throws(() => exportAudit(suite.db, { orgId: 'nope' }, 'csv'), /must be a UUID/);
    assert.throws(
      () => exportAudit(suite.db, { orgId, from: new Date('nope') }, 'jsonl'),
      /from is not a valid time/,
    );
    assert.throws(() => exportAudit(suite.db, { orgId }, 'xml' as 'csv'), /jsonl or csv/);
  });
});
