// One message: every recipient with its state, the method and why, the remote server's answer and
// TLS, each attempt, and what a portal recipient did; revoke, send a notice again, extend the expiry.
import { type FormEvent, useEffect, useState } from 'react';
import { Link } from 'wouter';
import { api } from '../api.ts';
import { useSession } from '../session.tsx';
import { FINAL_STATES, type MessageDetail, type Recipient } from '../types.ts';
import { ErrorText, PageTitle, StateBadge, Status, useLoad, when } from '../ui.tsx';

function RecipientCard({ r, actions }: { r: Recipient; actions: React.ReactNode }) {
  return (
    <article className="recipient panel" aria-labelledby={`r-${r.id}`}>
      <h3 id={`r-${r.id}`}>
        {r.address} <StateBadge state={r.state} />
      </h3>
      <dl>
        <dt>Method</dt>
        <dd data-testid="method">{r.method ?? 'not chosen yet'}</dd>
        <dt>Why</dt>
        <dd>{r.method_reason ?? '—'}</dd>
        <dt>Attempts</dt>
        <dd>
          {r.attempts}
          {r.next_attempt_at && `, next at ${when(r.next_attempt_at)}`}
        </dd>
        <dt>Mail server</dt>
        <dd>
          {r.mx ?? '—'} {r.smtp_code && `(${r.smtp_code} ${r.smtp_response ?? ''})`}
        </dd>
        <dt>TLS</dt>
        <dd>{r.tls_version ? `${r.tls_version}, ${r.tls_cipher ?? ''}` : '—'}</dd>
        <dt>Finished</dt>
        <dd>{when(r.finished_at)}</dd>
      </dl>
      {r.portal && (
        <>
          <h4>Portal activity</h4>
          <dl>
            <dt>Verification</dt>
            <dd>{r.portal.verification}</dd>
            <dt>Readable until</dt>
            <dd>{when(r.portal.expires_at)}</dd>
            <dt>Verified</dt>
            <dd>{when(r.portal.verified_at)}</dd>
            <dt>First viewed</dt>
            <dd>{when(r.portal.first_viewed_at)}</dd>
            <dt>Views, downloads, replies</dt>
            <dd>
              {r.portal.views}, {r.portal.downloads}, {r.portal.replies}
            </dd>
            {r.portal.locked_at && (
              <>
                <dt>Locked</dt>
                <dd>{when(r.portal.locked_at)}</dd>
              </>
            )}
            {r.portal.revoked_at && (
              <>
                <dt>Revoked</dt>
                <dd>{when(r.portal.revoked_at)}</dd>
              </>
            )}
          </dl>
        </>
      )}
      {r.history && r.history.length > 0 && (
        <details>
          <summary>Attempts ({r.history.length})</summary>
          <ol>
            {r.history.map((a) => (
              <li key={a.attempt}>
                {when(a.started_at)}: {a.method} {a.outcome}
                {a.smtp_code ? ` (${a.smtp_code})` : ''}
                {a.tls_version ? `, ${a.tls_version}` : ''}
                {a.detail ? `: ${a.detail}` : ''}
              </li>
            ))}
          </ol>
        </details>
      )}
      <div className="actions">{actions}</div>
    </article>
  );
}

export function MessagePage({ id }: { id: string }) {
  const { can } = useSession();
  const message = useLoad(() => api<MessageDetail>('GET', `/v1/messages/${id}`), [id]);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const settled = message.data?.recipients.every((r) => FINAL_STATES.has(r.state)) ?? false;

  // Until every recipient is in a final state, look again every two seconds.
  const { reload } = message;
  useEffect(() => {
    if (!message.data || settled) return;
    const timer = setInterval(() => void reload(), 2000);
    return () => clearInterval(timer);
  }, [message.data, settled, reload]);

  async function act(call: () => Promise<unknown>, what: string) {
    setError(null);
    setDone(null);
    try {
      await call();
      setDone(what);
      await reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }

  function revoke(recipients?: string[]) {
    if (!window.confirm('Revoke? Recipients who read in the portal lose access at once.')) return;
    void act(async () => {
      const answer = await api<{ revoked: string[]; not_revoked: { id: string; state: string }[] }>(
        'POST',
        `/v1/messages/${id}/revoke`,
        { body: recipients ? { recipients } : {} },
      );
      if (answer.revoked.length === 0)
        throw new Error('Nothing could be revoked: that mail was already delivered.');
    }, 'Revoked.');
  }

  function extend(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const date = new FormData(event.currentTarget).get('expires') as string;
    void act(
      () => api('PATCH', `/v1/messages/${id}/portal`, { body: { expires_at: new Date(date).toISOString() } }),
      'Portal expiry changed.',
    );
  }

  const m = message.data;
  const manage = can('messages:revoke');
  return (
    <>
      <PageTitle>{m ? m.subject || '(no subject)' : 'Message'}</PageTitle>
      <p>
        <Link href="/messages">All messages</Link>
      </p>
      <ErrorText error={message.error ?? error} />
      {done && <Status>{done}</Status>}
      {m && (
        <>
          <dl className="summary">
            <dt>From</dt>
            <dd>{m.from}</dd>
            <dt>Accepted</dt>
            <dd>{when(m.created_at)}</dd>
            <dt>Status</dt>
            <dd data-testid="message-status">{m.status.replace('_', ' ')}</dd>
            <dt>Protection asked</dt>
            <dd>{m.protection}</dd>
            <dt>PHI found</dt>
            <dd>{m.dlp.phi ? m.dlp.findings.map((f) => `${f.kind} (${f.count})`).join(', ') : 'none'}</dd>
            {m.tags.length > 0 && (
              <>
                <dt>Tags</dt>
                <dd>{m.tags.join(', ')}</dd>
              </>
            )}
            {m.sandbox && (
              <>
                <dt>Sandbox</dt>
                <dd>
                  Captured, never sent: <Link href={`/sandbox/${m.id}`}>see the captures</Link>
                </dd>
              </>
            )}
          </dl>
          {manage && (
            <div className="actions">
              <button type="button" className="danger" onClick={() => revoke()}>
                Revoke the whole message
              </button>
              {m.recipients.some((r) => r.portal) && (
                <form className="inline" onSubmit={extend}>
                  <label htmlFor="expires">Readable in the portal until</label>
                  <input id="expires" name="expires" type="date" required />
                  <button type="submit" className="secondary">
                    Change expiry
                  </button>
                </form>
              )}
            </div>
          )}
          <h2>Recipients</h2>
          {m.recipients.map((r) => (
            <RecipientCard
              key={r.id}
              r={r}
              actions={
                manage && (
                  <>
                    {r.state !== 'revoked' && (
                      <button type="button" className="danger" onClick={() => revoke([r.id])}>
                        Revoke for {r.address}
                      </button>
                    )}
                    {r.portal && r.state === 'portal_notified' && (
                      <button
                        type="button"
                        className="secondary"
                        onClick={() =>
                          void act(
                            () => api('POST', `/v1/messages/${id}/recipients/${r.id}/notice`),
                            `Notice sent again to ${r.address}.`,
                          )
                        }
                      >
                        Send the notice again to {r.address}
                      </button>
                    )}
                  </>
                )
              }
            />
          ))}
        </>
      )}
    </>
  );
}
