// What the sandbox captured instead of sending: per recipient, the method and why, and the raw
// source as it would have left (ciphertext for OpenPGP and S/MIME).
import { useState } from 'react';
import { Link } from 'wouter';
import { api, query } from '../api.ts';
import { ErrorText, PageTitle, useLoad, when } from '../ui.tsx';

interface Capture {
  id: string;
  /** staff: mail to staff about their accounts, listed only for users:manage, links masked. */
  kind: 'message' | 'portal' | 'staff';
  captured_at: string;
  message_id: string;
  recipient: string;
  method: string | null;
  method_reason: string | null;
  tls: string;
  size_bytes: number;
}

export function Sandbox({ messageId }: { messageId?: string }) {
  const captures = useLoad(
    () =>
      api<{ mode: string; data: Capture[] }>(
        'GET',
        `/v1/sandbox/messages${query({ message_id: messageId, limit: 50 })}`,
      ),
    [messageId],
  );
  const [raw, setRaw] = useState<{ id: string; raw: string } | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function open(id: string) {
    try {
      setRaw(await api<{ id: string; raw: string }>('GET', `/v1/sandbox/messages/${id}`));
    } catch (err) {
      setError((err as Error).message);
    }
  }

  return (
    <>
      <PageTitle>Sandbox captures</PageTitle>
      {messageId && (
        <p>
          For <Link href={`/messages/${messageId}`}>one message</Link>.{' '}
          <Link href="/sandbox">All captures</Link>
        </p>
      )}
      <ErrorText error={captures.error ?? error} />
      {captures.data && (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Captured mail, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Captured</th>
                <th scope="col">Recipient</th>
                <th scope="col">Method and why</th>
                <th scope="col">Simulated TLS</th>
                <th scope="col">
                  <span className="visually-hidden">Source</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {captures.data.data.map((c) => (
                <tr key={c.id}>
                  <td>{when(c.captured_at)}</td>
                  <td>{c.recipient}</td>
                  <td>
                    {c.kind === 'staff'
                      ? 'Staff mail (its access links are masked)'
                      : `${c.method ?? '—'}: ${c.method_reason ?? ''}`}
                  </td>
                  <td>{c.tls}</td>
                  <td>
                    <button type="button" className="secondary" onClick={() => void open(c.id)}>
                      Source for {c.recipient}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {raw && (
        <section aria-labelledby="raw-title">
          <h2 id="raw-title">As it would have left</h2>
          <pre className="raw" tabIndex={0}>
            {raw.raw}
          </pre>
        </section>
      )}
    </>
  );
}
