// Account security: second factors (add, remove, new recovery codes) and sessions (revoke one, or all).
import { useState } from 'react';
import { Link } from 'wouter';
import { api } from '../api.ts';
import { useReauth } from '../reauth.tsx';
import { useSession } from '../session.tsx';
import { ErrorText, PageTitle, Status, useLoad, when } from '../ui.tsx';
import { RecoveryCodes } from './Enrol.tsx';

interface Factors {
  totp: boolean;
  passkeys: { id: string; name: string; created_at: string; last_used_at: string | null }[];
  recovery_codes_left: number;
}
interface SessionRow {
  id: string;
  current: boolean;
  methods: string[];
  user_agent: string | null;
  created_at: string;
  last_seen_at: string;
}

export function Account() {
  const { session, signedOut } = useSession();
  const reauth = useReauth();
  const factors = useLoad(() => api<Factors>('GET', '/v1/auth/factors'), []);
  const sessions = useLoad(() => api<{ data: SessionRow[] }>('GET', '/v1/auth/sessions'), []);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  async function act(call: () => Promise<unknown>, message: string) {
    setError(null);
    setDone(null);
    try {
      await reauth(call);
      setDone(message);
      await Promise.all([factors.reload(), sessions.reload()]);
    } catch (err) {
      setError((err as Error).message);
    }
  }

  async function revoke(row: SessionRow) {
    await act(() => api('DELETE', `/v1/auth/sessions/${row.id}`), 'Session revoked.');
    if (row.current) signedOut('You revoked this session.');
  }

  return (
    <>
      <PageTitle>Account security</PageTitle>
      <p>
        Signed in as <strong>{session?.user.email}</strong> ({session?.user.role}).
      </p>
      <ErrorText error={error ?? factors.error ?? sessions.error} />
      {done && <Status>{done}</Status>}
      {codes && <RecoveryCodes codes={codes} />}

      <h2>Second factors</h2>
      {factors.data && (
        <table>
          <caption className="visually-hidden">Your second factors</caption>
          <thead>
            <tr>
              <th scope="col">Factor</th>
              <th scope="col">Added</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {factors.data.totp && (
              <tr>
                <td>Authenticator app</td>
                <td>—</td>
                <td>—</td>
                <td>
                  <button
                    type="button"
                    className="danger"
                    onClick={() =>
                      void act(() => api('DELETE', '/v1/auth/factors/totp'), 'Authenticator app removed.')
                    }
                  >
                    Remove authenticator app
                  </button>
                </td>
              </tr>
            )}
            {factors.data.passkeys.map((passkey) => (
              <tr key={passkey.id}>
                <td>Passkey: {passkey.name}</td>
                <td>{when(passkey.created_at)}</td>
                <td>{when(passkey.last_used_at)}</td>
                <td>
                  <button
                    type="button"
                    className="danger"
                    onClick={() =>
                      void act(
                        () => api('DELETE', `/v1/auth/factors/passkeys/${encodeURIComponent(passkey.id)}`),
                        'Passkey removed.',
                      )
                    }
                  >
                    Remove passkey {passkey.name}
                  </button>
                </td>
              </tr>
            ))}
            <tr>
              <td>Recovery codes</td>
              <td colSpan={2}>{factors.data.recovery_codes_left} left</td>
              <td>
                <button
                  type="button"
                  className="secondary"
                  onClick={() =>
                    void act(async () => {
                      setCodes(
                        (await api<{ recovery_codes: string[] }>('POST', '/v1/auth/recovery-codes'))
                          .recovery_codes,
                      );
                    }, 'New recovery codes made; the old ones no longer work.')
                  }
                >
                  New recovery codes
                </button>
              </td>
            </tr>
          </tbody>
        </table>
      )}
      <p>
        <Link href="/enrol">Add a second factor</Link>
      </p>

      <h2>Sessions</h2>
      {sessions.data && (
        <table>
          <caption className="visually-hidden">Your active sessions</caption>
          <thead>
            <tr>
              <th scope="col">Browser</th>
              <th scope="col">Signed in</th>
              <th scope="col">Last seen</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {sessions.data.data.map((row) => (
              <tr key={row.id}>
                <td>
                  {row.user_agent ?? 'Unknown browser'} {row.current && <strong>(this one)</strong>}
                </td>
                <td>{when(row.created_at)}</td>
                <td>{when(row.last_seen_at)}</td>
                <td>
                  <button type="button" className="secondary" onClick={() => void revoke(row)}>
                    Revoke {row.current ? 'this session' : 'session'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
