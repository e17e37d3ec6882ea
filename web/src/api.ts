// Every call the console makes goes through here: the public API with the session cookie, the
// CSRF token on state-changing requests, problem+json turned into an Error with its detail, and a
// 401 from an expired session turned into one event the app answers by going back to sign-in.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, detail: string) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

let csrfToken = '';
/** The second factors that can finish the sign-in in progress, as the sign-in answered. */
export let secondFactorMethods: string[] = [];
export const setSecondFactorMethods = (methods: string[]) => {
  secondFactorMethods = methods;
};
export const setCsrfToken = (token: string) => {
  csrfToken = token;
};

type ExpiredListener = () => void;
const expiredListeners = new Set<ExpiredListener>();
/** Called when a signed-in request comes back 401: the session ended (idle, absolute or revoked). */
export function onSessionExpired(listener: ExpiredListener): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

export interface RequestOptions {
  body?: unknown;
  /** A 401 here is an answer (wrong password), not an expired session. */
  expect401?: boolean;
}

async function send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  if (response.ok) return response;
  let code = 'error';
  let detail = `${response.status} ${response.statusText}`;
  try {
    const problem = (await response.json()) as {
      code?: string;
      detail?: string;
      title?: string;
      message?: string;
    };
    code = problem.code ?? code;
    detail = problem.detail ?? problem.message ?? problem.title ?? detail;
  } catch {
    // Not a problem document: keep the status line.
  }
  if (response.status === 401 && !options.expect401) for (const listener of expiredListeners) listener();
  throw new ApiError(response.status, code, detail);
}

export async function api<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(method, path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** A download (CSV, JSON lines) as a Blob, with the file name the server gave. */
export async function download(path: string): Promise<{ blob: Blob; filename: string }> {
  const response = await send('GET', path);
  const disposition = response.headers.get('content-disposition') ?? '';
  const filename = /filename="([^"]+)"/.exec(disposition)?.[1] ?? 'download';
  return { blob: await response.blob(), filename };
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}
