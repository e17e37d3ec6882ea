import { type FormEvent, useState } from 'react';
import { api, setCsrfToken, setSecondFactorMethods } from '../api.ts';
import { useSession } from '../session.tsx';
import type { SignInAnswer } from '../types.ts';
import { ErrorText, PageTitle } from '../ui.tsx';

export function SignIn() {
  const { refresh, notice } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    try {
      const answer = await api<SignInAnswer>('POST', '/v1/auth/sign-in', {
        body: { email: form.get('email'), password: form.get('password') },
        expect401: true,
      });
      setCsrfToken(answer.csrf_token);
      setSecondFactorMethods(answer.methods);
      await refresh();
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  }

  return (
    <section className="narrow">
      <PageTitle>Sign in to Sealpost</PageTitle>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <form onSubmit={submit}>
        <label htmlFor="email">Email address</label>
        <input id="email" name="email" type="email" autoComplete="username" required />
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required />
        <ErrorText error={error} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </section>
  );
}
