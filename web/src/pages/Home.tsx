// The first page. In sandbox mode it shows how to try SecureLine (the same three commands that
// `sealpost demo` prints) and sends the demo message in one click; otherwise recent messages.
import { useState } from 'react';
import { Link } from 'wouter';
import { api } from '../api.ts';
import { DEMO_MESSAGE, DEMO_RECIPIENTS, demoCommands } from '../demo.ts';
import { useSession } from '../session.tsx';
import type { MessageSummary, Page } from '../types.ts';
import { ErrorText, PageTitle, StateBadge, useLoad, when } from '../ui.tsx';

function TryIt() {
  const [sent, setSent] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const origin = window.location.origin;

  async function sendDemo() {
    setBusy(true);
    setError(null);
    try {
      setSent((await api<{ id: string }>('POST', '/v1/messages', { body: DEMO_MESSAGE })).id);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel" aria-labelledby="try-title">
      <h2 id="try-title">Try SecureLine in the sandbox</h2>
      <p>
        This server runs in <strong>sandbox mode</strong>: mail runs the whole pipeline (DLP, policy,
        encryption, DKIM) and is captured instead of sent. Send one message with PHI in it to five demo
        recipients and see how each is protected: enforced TLS, OpenPGP, S/MIME, and the secure portal for the
        two domains without working TLS.
      </p>
      <p>
        <button type="button" onClick={() => void sendDemo()} disabled={busy}>
          Send a demo message
        </button>
      </p>
      <ErrorText error={error} />
      {sent && (
        <p role="status">
          Sent to {DEMO_RECIPIENTS.length} demo recipients.{' '}
          <Link href={`/messages/${sent}`}>See what happened to each</Link> and{' '}
          <Link href={`/sandbox/${sent}`}>what would have left (the sandbox captures)</Link>.
        </p>
      )}
      <h3>The same from a terminal</h3>
      <p>
        With an API key (the first start printed one; Settings &gt; API keys makes more) in{' '}
        <code>$SEALPOST_API_KEY</code>:
      </p>
      <ol className="commands">
        {demoCommands(origin, '$SEALPOST_API_KEY').map((command) => (
          <li key={command}>
            <pre tabIndex={0}>
              <code>{command}</code>
            </pre>
          </li>
        ))}
      </ol>
      <p>
        <code>sealpost demo</code> prints them again, with the paths of the demo recipients&apos; private keys
        to decrypt the OpenPGP and S/MIME captures.
      </p>
    </section>
  );
}

export function Home() {
  const { session, can } = useSession();
  const mode = useLoad(
    async () =>
      can('sandbox:read')
        ? (await api<{ mode: string }>('GET', '/v1/sandbox/messages?limit=1')).mode
        : 'unknown',
    [can],
  );
  const recent = useLoad(
    async () => (can('messages:read') ? api<Page<MessageSummary>>('GET', '/v1/messages?limit=5') : null),
    [can],
  );
  return (
    <>
      <PageTitle>Welcome to Sealpost</PageTitle>
      <p>Signed in as {session?.user.email}.</p>
      <ErrorText error={mode.error ?? recent.error} />
      {mode.data === 'sandbox' && can('messages:send') && <TryIt />}
      {recent.data && (
        <section aria-labelledby="recent-title">
          <h2 id="recent-title">Recent messages</h2>
          {recent.data.data.length === 0 ? (
            <p>No messages yet.</p>
          ) : (
            <ul className="plain">
              {recent.data.data.map((m) => (
                <li key={m.id}>
                  <Link href={`/messages/${m.id}`}>{when(m.created_at)}</Link> to {m.recipients.length}{' '}
                  recipient
                  {m.recipients.length === 1 ? '' : 's'}:{' '}
                  {m.recipients.map((r) => (
                    <StateBadge key={r.id} state={r.state} />
                  ))}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </>
  );
}
