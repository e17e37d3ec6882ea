// The audit trail: search by time, person or key, action and object; export what matches (JSON
// lines or CSV); and the result of verifying the organisation's hash chain.
import { type FormEvent, useState } from 'react';
import { api, download, query } from '../api.ts';
import { useReauth } from '../reauth.tsx';
import { useSession } from '../session.tsx';
import type { Page } from '../types.ts';
import { ErrorText, PageTitle, Status, useLoad, when } from '../ui.tsx';

interface AuditEvent {
  seq: number;
  event_id: string;
  occurred_at: string;
  actor_type: string;
  actor_id: string;
  actor_label: string;
  action: string;
  object_type: string;
  object_id: string;
  outcome: string;
  ip: string | null;
}
type Verification =
  | { ok: true; chains: number; events: number; head?: { seq: number; hash: string } }
  | { ok: false; seq: number; reason: string; detail: string; events: number };
type Filter = Record<string, string>;

const FIELDS: { name: string; label: string; type?: string }[] = [
  { name: 'from', label: 'From', type: 'datetime-local' },
  { name: 'to', label: 'To', type: 'datetime-local' },
  { name: 'actor_id', label: 'User or key id' },
  { name: 'action', label: 'Action (e.g. message.revoked)' },
  { name: 'object_type', label: 'Object type' },
  { name: 'object_id', label: 'Object id' },
];

function filterQuery(filter: Filter): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(filter))
    if (value) out[key] = key === 'from' || key === 'to' ? new Date(value).toISOString() : value;
  return out;
}

export function Audit() {
  const { can } = useSession();
  const reauth = useReauth();
  const [filter, setFilter] = useState<Filter>({});
  const [extra, setExtra] = useState<{ events: AuditEvent[]; cursor: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [exported, setExported] = useState<string | null>(null);
  const events = useLoad(async () => {
    setExtra(null);
    return api<Page<AuditEvent>>('GET', `/v1/audit-events${query({ ...filterQuery(filter), limit: 100 })}`);
  }, [filter]);
  const verification = useLoad(() => api<Verification>('GET', '/v1/audit-events/verify'), []);

  const rows = [...(events.data?.data ?? []), ...(extra?.events ?? [])];
  const cursor = extra ? extra.cursor : (events.data?.next_cursor ?? null);

  function search(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setFilter(Object.fromEntries(FIELDS.map((f) => [f.name, ((form.get(f.name) as string) ?? '').trim()])));
  }

  async function more() {
    if (!cursor) return;
    try {
      const page = await api<Page<AuditEvent>>(
        'GET',
        `/v1/audit-events${query({ ...filterQuery(filter), limit: 100, cursor })}`,
      );
      setExtra({ events: [...(extra?.events ?? []), ...page.data], cursor: page.next_cursor });
    } catch (err) {
      setError((err as Error).message);
    }
  }

  const [reason, setReason] = useState('');

  async function exportAs(format: 'jsonl' | 'csv') {
    setError(null);
    if (!reason.trim())
      return setError('Say why you export the trail: it is kept with the export on the record.');
    try {
      const { blob, filename } = await reauth(() =>
        download(`/v1/audit-events${query({ ...filterQuery(filter), format, reason: reason.trim() })}`),
      );
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = filename;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      setExported(`${filename} downloaded.`);
    } catch (err) {
      setError((err as Error).message);
    }
  }

  const v = verification.data;
  return (
    <>
      <PageTitle>Audit trail</PageTitle>
      <section className="panel" aria-labelledby="chain-title">
        <h2 id="chain-title">Chain verification</h2>
        {!v ? (
          <Status>Verifying…</Status>
        ) : v.ok ? (
          <p className="ok" data-testid="chain">
            Intact: {v.events} events, every hash and link checks out
            {v.head ? ` (head #${v.head.seq}, ${v.head.hash.slice(0, 16)}…)` : ''}.
          </p>
        ) : (
          <p className="error" data-testid="chain">
            Broken at event #{v.seq} ({v.reason}): {v.detail}
          </p>
        )}
      </section>
      <form className="filters" onSubmit={search} aria-label="Search the audit trail">
        {FIELDS.map((f) => (
          <div key={f.name}>
            <label htmlFor={`a-${f.name}`}>{f.label}</label>
            <input id={`a-${f.name}`} name={f.name} type={f.type ?? 'text'} />
          </div>
        ))}
        <button type="submit">Search</button>
      </form>
      {can('audit:export') && (
        <div className="actions">
          <div>
            <label htmlFor="export-reason">Reason for the export (kept on the record)</label>
            <input
              id="export-reason"
              value={reason}
              maxLength={500}
              onChange={(e) => setReason(e.target.value)}
              aria-describedby="export-help"
            />
            <p id="export-help" className="help">
              Name the request (e.g. a ticket or an auditor&apos;s request), not a patient.
            </p>
          </div>
          <button type="button" className="secondary" onClick={() => void exportAs('jsonl')}>
            Export as JSON lines
          </button>
          <button type="button" className="secondary" onClick={() => void exportAs('csv')}>
            Export as CSV
          </button>
        </div>
      )}
      {exported && <Status>{exported}</Status>}
      <ErrorText error={events.error ?? verification.error ?? error} />
      <div className="table-wrap">
        <table>
          <caption className="visually-hidden">Audit events, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">Action</th>
              <th scope="col">Object</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.event_id}>
                <td>{e.seq}</td>
                <td>{when(e.occurred_at)}</td>
                <td>
                  {e.actor_label} <span className="muted">({e.actor_type})</span>
                </td>
                <td>{e.action}</td>
                <td>
                  {e.object_type} <code>{e.object_id}</code>
                </td>
                <td>{e.outcome}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {cursor && (
        <button type="button" className="secondary" onClick={() => void more()}>
          Load 100 more
        </button>
      )}
    </>
  );
}
