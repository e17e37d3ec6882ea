// Sensitive actions (factors, API keys, audit exports) need a sign-in from the last minutes. When
// the API says so, ask for the password in a dialog, re-authenticate, and run the action again.
import {
  createContext,
  type FormEvent,
  type ReactNode,
  useCallback,
  useContext,
  useRef,
  useState,
} from 'react';
import { ApiError, api } from './api.ts';
import { ErrorText } from './ui.tsx';

type Run = <T>(action: () => Promise<T>) => Promise<T>;
const ReauthContext = createContext<Run | null>(null);

export function ReauthProvider({ children }: { children: ReactNode }) {
  // Rendered only while asking, so its password field is never mistaken for the page's own.
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const pending = useRef<{ resolve(): void; reject(err: Error): void } | null>(null);

  const ask = () =>
    new Promise<void>((resolve, reject) => {
      pending.current = { resolve, reject };
      setError(null);
      setOpen(true);
    });

  const run: Run = useCallback(async (action) => {
    try {
      return await action();
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'reauthentication_required')) throw err;
      await ask();
      return action();
    }
  }, []);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const password = new FormData(form).get('password') as string;
    try {
      await api('POST', '/v1/auth/reauthenticate', { body: { password }, expect401: true });
      setOpen(false);
      pending.current?.resolve();
    } catch (err) {
      setError((err as Error).message);
    }
  }

  function cancel() {
    setOpen(false);
    pending.current?.reject(new Error('Cancelled: the action needs your password again.'));
  }

  return (
    <ReauthContext.Provider value={run}>
      {children}
      {open && (
        <dialog
          ref={(el) => void (el && !el.open && el.showModal())}
          aria-labelledby="reauth-title"
          onCancel={cancel}
        >
          <form onSubmit={submit}>
            <h2 id="reauth-title">Confirm it is you</h2>
            <p>This action needs your password again (a sign-in from the last 10 minutes).</p>
            <label htmlFor="reauth-password">Password</label>
            <input
              id="reauth-password"
              name="password"
              type="password"
              autoComplete="current-password"
              required
            />
            <ErrorText error={error} />
            <div className="actions">
              <button type="submit">Confirm</button>
              <button type="button" className="secondary" onClick={cancel}>
                Cancel
              </button>
            </div>
          </form>
        </dialog>
      )}
    </ReauthContext.Provider>
  );
}

export function useReauth(): Run {
  const run = useContext(ReauthContext);
  if (!run) throw new Error('useReauth outside ReauthProvider');
  return run;
}
