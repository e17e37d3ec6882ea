// Adding a second factor: an authenticator app (QR code, or the secret typed in) or a passkey. When
// the organisation requires one, this is the only page until one is added.
import { startRegistration } from '@simplewebauthn/browser';
import { type FormEvent, useState } from 'react';
import { renderSVG } from 'uqr';
import { Link } from 'wouter';
import { api } from '../api.ts';
import { useReauth } from '../reauth.tsx';
import { useSession } from '../session.tsx';
import { ErrorText, PageTitle } from '../ui.tsx';

export function RecoveryCodes({ codes }: { codes: string[] }) {
  return (
    <section aria-labelledby="recovery-title" className="panel">
      <h2 id="recovery-title">Your recovery codes</h2>
      <p>
        Each works once if you lose your second factor. They are shown only now: keep them somewhere safe.
      </p>
      <ul className="codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Enrol({ required }: { required: boolean }) {
  const { refresh } = useSession();
  const reauth = useReauth();
  const [totp, setTotp] = useState<{ secret: string; otpauth_uri: string } | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function attempt(call: () => Promise<void>) {
    setError(null);
    try {
      await reauth(call);
    } catch (err) {
      setError((err as Error).message);
    }
  }

  const startTotp = () =>
    attempt(async () => {
      setTotp(await api('POST', '/v1/auth/factors/totp'));
    });

  function confirm(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const code = (new FormData(event.currentTarget).get('code') as string).replace(/\s+/g, '');
    void attempt(async () => {
      const answer = await api<{ recovery_codes: string[] | null }>('POST', '/v1/auth/factors/totp/confirm', {
        body: { code },
      });
      setCodes(answer.recovery_codes);
      setTotp(null);
      setDone(true);
    });
  }

  const passkey = () =>
    attempt(async () => {
      const options = await api<Parameters<typeof startRegistration>[0]['optionsJSON']>(
        'POST',
        '/v1/auth/factors/passkeys/options',
      );
      const credential = await startRegistration({ optionsJSON: options });
      const answer = await api<{ recovery_codes: string[] | null }>('POST', '/v1/auth/factors/passkeys', {
        body: { credential, name: 'Passkey' },
      });
      setCodes(answer.recovery_codes);
      setDone(true);
    });

  if (done)
    return (
      <section className="narrow">
        <PageTitle>Second factor added</PageTitle>
        {codes && <RecoveryCodes codes={codes} />}
        <p>
          {required ? (
            <button type="button" onClick={() => void refresh()}>
              Continue to the console
            </button>
          ) : (
            <Link href="/account">Back to account security</Link>
          )}
        </p>
      </section>
    );

  return (
    <section className="narrow">
      <PageTitle>Add a second factor</PageTitle>
      {required && <p className="notice">Your organisation requires a second factor before you can go on.</p>}
      <ErrorText error={error} />
      <h2>Passkey</h2>
      <p>A passkey on this device or a security key: the strongest choice, it cannot be phished.</p>
      <button type="button" onClick={() => void passkey()}>
        Add a passkey
      </button>
      <h2>Authenticator app</h2>
      {!totp ? (
        <button type="button" onClick={() => void startTotp()}>
          Set up an authenticator app
        </button>
      ) : (
        <form onSubmit={confirm}>
          <p>Scan this code with your authenticator app, or type the secret into it.</p>
          <img
            className="qr"
            width="200"
            height="200"
            alt="QR code holding the authenticator app's secret"
            src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(renderSVG(totp.otpauth_uri))}`}
          />
          <p>
            Secret: <code data-testid="totp-secret">{totp.secret}</code>
          </p>
          <label htmlFor="confirm-code">The 6-digit code the app shows now</label>
          <input id="confirm-code" name="code" inputMode="numeric" autoComplete="one-time-code" required />
          <button type="submit">Confirm</button>
        </form>
      )}
    </section>
  );
}
