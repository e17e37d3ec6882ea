// Pieces the settings pages share: a table of rows, an action that asks for the password again when
// the API wants a recent sign-in, and helpers for lists typed one per line and files read in the
// browser.
import { type ReactNode, useState } from 'react';
import { useReauth } from '../../reauth.tsx';

/** A table of rows with the given columns: the shape most settings lists share. */
export function Table<T>({
  caption,
  rows,
  columns,
}: {
  caption: string;
  rows: T[];
  columns: [string, (row: T) => ReactNode][];
}) {
  if (rows.length === 0) return <p>None yet.</p>;
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map(([title]) => (
              <th key={title} scope="col">
                {title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i}>
              {columns.map(([title, cell]) => (
                <td key={title}>{cell(row)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Runs a change (re-authenticating when asked), then reloads; keeps the outcome to announce. */
export function useAction(after: () => Promise<void>) {
  const reauth = useReauth();
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  async function run(call: () => Promise<unknown>, message: string): Promise<boolean> {
    setError(null);
    setDone(null);
    try {
      await reauth(call);
      setDone(message);
      await after();
      return true;
    } catch (err) {
      setError((err as Error).message);
      return false;
    }
  }
  return { run, error, done, setError };
}

/** A list typed one item per line (or separated by commas), without blanks. */
export const lines = (text: string) =>
  text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);

/** A file's bytes as base64, for JSON bodies. */
export async function base64Of(file: Blob): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  // In slices: String.fromCharCode takes its arguments on the stack.
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Hands a downloaded file to the browser, as a link the person clicked would. */
export function saveFile(blob: Blob, filename: string) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export interface Role {
  id: string;
  name: string;
  description: string | null;
  built_in: boolean;
  permissions: string[];
  users: number;
}

/** A role's name for people: custom roles are stored by id. */
export const roleLabel = (roles: Role[] | undefined, id: string) =>
  roles?.find((r) => r.id === id)?.name ?? id.replaceAll('_', ' ');
