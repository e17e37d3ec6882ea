// The second step of signing in: a passkey, a code from the authenticator app, or a recovery code.
import { startAuthentication } from '@simplewebauthn/browser';
import { type FormEvent, useState } from 'react';
import { api, secondFactorMethods } from '../api.ts';
import { useSession } from '../session.tsx';
import { ErrorText, PageTitle } from '../ui.tsx';

export function Verify() {
  const { refresh, signedOut } = useSession();
  const [error, setError] = useState<string | null>(null);
  // After a reload the sign-in's answer is gone: offer every kind, the server knows which count.
  const methods = secondFactorMethods.length ? secondFactorMethods : ['passkey', 'totp', 'recovery_code'];

  async function finish(call: () => Promise<unknown>) {
    try {
      await call();
      await refresh();
    } catch (err) {
      setError((err as Error).message);
    }
  }

  const submitCode = (method: 'totp' | 'recovery_code') => (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const code = (new FormData(event.currentTarget).get('code') as string).replace(/\s+/g, '');
    void finish(() => api('POST', '/v1/auth/second-factor', { body: { method, code }, expect401: true }));
  };

  const passkey = () =>
    finish(async () => {
      const options = await api<Parameters<typeof startAuthentication>[0]['optionsJSON']>(
        'POST',
        '/v1/auth/second-factor/passkey/options',
      );
      const credential = await startAuthentication({ optionsJSON: options });
      await api('POST', '/v1/auth/second-factor/passkey', { body: { credential }, expect401: true });
    });

  async function cancel() {
    await api('POST', '/v1/auth/sign-out');
    signedOut();
  }

  return (
    <section className="narrow">
      <PageTitle>Second step</PageTitle>
      <p>Your password was right. Finish signing in with one of your second factors.</p>
      <ErrorText error={error} />
      {methods.includes('passkey') && (
        <p>
          <button type="button" onClick={() => void passkey()}>
            Use a passkey
          </button>
        </p>
      )}
      {methods.includes('totp') && (
        <form onSubmit={submitCode('totp')}>
          <h2>Authenticator app</h2>
          <label htmlFor="totp">6-digit code</label>
          <input
            id="totp"
            name="code"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9 ]{6,7}"
            required
          />
          <button type="submit">Verify code</button>
        </form>
      )}
      {methods.includes('recovery_code') && (
        <details>
          <summary>Use a recovery code</summary>
          <form onSubmit={submitCode('recovery_code')}>
            <label htmlFor="recovery">Recovery code</label>
            <input id="recovery" name="code" autoComplete="off" required />
            <button type="submit">Use recovery code</button>
          </form>
        </details>
      )}
      <p>
        <button type="button" className="link" onClick={() => void cancel()}>
          Cancel and sign out
        </button>
      </p>
    </section>
  );
}
