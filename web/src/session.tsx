// Who is signed in, at which stage, with which permissions; shared by every page. A 401 on any
// signed-in call ends it here, and the app sends the person back to sign-in with a message.
import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from 'react';
import { ApiError, api, onSessionExpired, setCsrfToken } from './api.ts';
import type { Session } from './types.ts';

interface SessionState {
  /** undefined while loading; null when signed out. */
  session: Session | null | undefined;
  /** Why the person is on the sign-in page, when it was not their choice. */
  notice: string | null;
  refresh(): Promise<Session | null>;
  signedOut(notice?: string): void;
  can(permission: string): boolean;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    try {
      const current = await api<Session>('GET', '/v1/auth/session', { expect401: true });
      setCsrfToken(current.csrf_token);
      setSession(current);
      setNotice(null);
      return current;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        setSession(null);
        return null;
      }
      throw err;
    }
  }, []);

  const signedOut = useCallback((why?: string) => {
    setCsrfToken('');
    setSession(null);
    setNotice(why ?? null);
  }, []);

  useEffect(() => {
    // The state is set when the answer arrives, not during the effect.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void refresh();
    return onSessionExpired(() => signedOut('Your session ended. Sign in again to go on.'));
  }, [refresh, signedOut]);

  const can = useCallback(
    (permission: string) => session?.stage === 'active' && session.permissions.includes(permission),
    [session],
  );

  return (
    <SessionContext.Provider value={{ session, notice, refresh, signedOut, can }}>
      {children}
    </SessionContext.Provider>
  );
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSession outside SessionProvider');
  return state;
}
