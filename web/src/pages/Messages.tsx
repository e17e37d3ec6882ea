// Messages, newest first, a page at a time (the API's cursor): filters by recipient state, tag and
// date go to the API; the search box narrows what is loaded by address, sender, tag or id (subjects
// are sealed and not listed).
import { type FormEvent, useMemo, useState } from 'react';
import { Link } from 'wouter';
import { api, query } from '../api.ts';
import { type MessageSummary, type Page, RECIPIENT_STATES } from '../types.ts';
import { ErrorText, PageTitle, StateBadge, Status, useLoad, when } from '../ui.tsx';

interface Filters {
  status: string;
  tag: string;
  since: string;
}

export function Messages() {
  const [filters, setFilters] = useState<Filters>({ status: '', tag: '', since: '' });
  const [search, setSearch] = useState('');
  const [more, setMore] = useState<{ pages: MessageSummary[]; cursor: string | null } | null>(null);
  const first = useLoad(async () => {
    setMore(null);
    return api<Page<MessageSummary>>(
      'GET',
      `/v1/messages${query({
        limit: 50,
        status: filters.status,
        tag: filters.tag,
        since: filters.since ? new Date(filters.since).toISOString() : '',
      })}`,
    );
  }, [filters]);
  const [error, setError] = useState<string | null>(null);

  const messages = useMemo(() => [...(first.data?.data ?? []), ...(more?.pages ?? [])], [first.data, more]);
  const cursor = more ? more.cursor : (first.data?.next_cursor ?? null);
  const shown = useMemo(() => {
    const needle = search.trim().toLowerCase();
    if (!needle) return messages;
    return messages.filter(
      (m) =>
        m.id.includes(needle) ||
        m.from.toLowerCase().includes(needle) ||
        m.tags.some((t) => t.toLowerCase().includes(needle)) ||
        m.recipients.some((r) => r.address.toLowerCase().includes(needle)),
    );
  }, [messages, search]);

  async function loadMore() {
    if (!cursor) return;
    try {
      const page = await api<Page<MessageSummary>>('GET', `/v1/messages${query({ limit: 50, cursor })}`);
      setMore({ pages: [...(more?.pages ?? []), ...page.data], cursor: page.next_cursor });
    } catch (err) {
      setError((err as Error).message);
    }
  }

  function applyFilters(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setFilters({
      status: form.get('status') as string,
      tag: (form.get('tag') as string).trim(),
      since: form.get('since') as string,
    });
  }

  return (
    <>
      <PageTitle>Messages</PageTitle>
      <form className="filters" onSubmit={applyFilters} aria-label="Filter messages">
        <div>
          <label htmlFor="f-status">Recipient state</label>
          <select id="f-status" name="status" defaultValue="">
            <option value="">Any</option>
            {RECIPIENT_STATES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ')}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="f-tag">Tag</label>
          <input id="f-tag" name="tag" maxLength={64} />
        </div>
        <div>
          <label htmlFor="f-since">Since</label>
          <input id="f-since" name="since" type="datetime-local" />
        </div>
        <button type="submit">Apply filters</button>
      </form>
      <div className="search">
        <label htmlFor="search">Search loaded messages (address, sender, tag or id)</label>
        <input id="search" type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
      </div>
      <ErrorText error={first.error ?? error} />
      {first.data === undefined ? (
        <Status>Loading messages…</Status>
      ) : (
        <>
          <Status>
            {shown.length} of {messages.length} loaded messages shown{cursor ? '; more can be loaded' : ''}.
          </Status>
          <div className="table-wrap">
            <table className="messages">
              <caption className="visually-hidden">Messages, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Sent</th>
                  <th scope="col">From</th>
                  <th scope="col">Recipients</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <Link href={`/messages/${m.id}`}>{when(m.created_at)}</Link>
                      {m.sandbox && <span className="badge">sandbox</span>}
                      {m.dlp.phi && <span className="badge phi">PHI</span>}
                    </td>
                    <td>{m.from}</td>
                    <td>
                      <ul className="plain">
                        {m.recipients.map((r) => (
                          <li key={r.id}>
                            {r.address} <StateBadge state={r.state} />{' '}
                            {r.method && <span className="method">{r.method}</span>}
                          </li>
                        ))}
                      </ul>
                    </td>
                    <td>{m.status.replace('_', ' ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {cursor && (
            <button type="button" className="secondary" onClick={() => void loadMore()}>
              Load 50 more
            </button>
          )}
        </>
      )}
    </>
  );
}
