// Small pieces every page uses: the page heading (focused on navigation, so screen readers announce
// the new page), errors and statuses read out by assistive technology, dates, and a data loader.
import { type DependencyList, type ReactNode, useCallback, useEffect, useRef, useState } from 'react';

export function PageTitle({ children }: { children: ReactNode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${heading.current?.textContent ?? 'Console'} · Sealpost`;
    heading.current?.focus();
  }, []);
  return (
    <h1 ref={heading} tabIndex={-1}>
      {children}
    </h1>
  );
}

export function ErrorText({ error }: { error: string | null | undefined }) {
  return (
    <p className="error" role="alert" hidden={!error}>
      {error}
    </p>
  );
}

export function Status({ children }: { children: ReactNode }) {
  return (
    <p className="status" role="status">
      {children}
    </p>
  );
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
export const when = (iso: string | null | undefined) => (iso ? dateFormat.format(new Date(iso)) : '—');

export function StateBadge({ state }: { state: string }) {
  return <span className={`badge state-${state}`}>{state.replace('_', ' ')}</span>;
}

/** Loads data for a page; reload() runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: DependencyList) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  // The callers name what the loader depends on, as for useEffect.
  // eslint-disable-next-line react-hooks/exhaustive-deps, react-hooks/use-memo
  const run = useCallback(load, deps);
  const reload = useCallback(async () => {
    try {
      setData(await run());
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [run]);
  useEffect(() => {
    // The state is set when the answer arrives, not during the effect.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void reload();
  }, [reload]);
  return { data, error, reload, setData };
}
