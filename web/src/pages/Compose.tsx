// Compose a secure message: a verified sending domain, recipients (suggested from recent ones),
// subject, text, attachments (dropped, or chosen with the file input), the protection asked for,
// and a preview from the API of how each recipient would be protected before anything is sent.
import { type DragEvent, type FormEvent, type KeyboardEvent, useMemo, useRef, useState } from 'react';
import { Link } from 'wouter';
import { api } from '../api.ts';
import type { MessageSummary, Page } from '../types.ts';
import { ErrorText, PageTitle, Status, useLoad } from '../ui.tsx';

interface Domain {
  domain: string;
  status: string;
}
interface Preview {
  sendable: boolean;
  problem: { detail?: string } | null;
  dlp: { phi: boolean; findings: { kind: string; count: number }[] };
  recipients: {
    address: string;
    method: string;
    tls: string | null;
    reason: string;
    fallback: string | null;
  }[];
}
interface Attachment {
  filename: string;
  content_type: string;
  content: string;
  size: number;
}

const PROTECTIONS = [
  { value: 'auto', label: 'Best each recipient can take (OpenPGP, S/MIME, enforced TLS, else the portal)' },
  { value: 'e2e', label: 'End-to-end only (OpenPGP or S/MIME, else the portal; never TLS alone)' },
  { value: 'portal', label: 'Every recipient reads in the secure portal' },
];

function base64(buffer: ArrayBuffer): string {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export const splitAddresses = (text: string) =>
  text
    .split(/[\s,;]+/)
    .map((a) => a.trim())
    .filter(Boolean);

export function Compose() {
  const domains = useLoad(() => api<{ data: Domain[] }>('GET', '/v1/domains'), []);
  const recent = useLoad(
    () =>
      api<Page<MessageSummary>>('GET', '/v1/messages?limit=200').catch(() => ({
        data: [],
        next_cursor: null,
      })),
    [],
  );
  const suggestions = useMemo(() => {
    const seen = new Set<string>();
    for (const m of recent.data?.data ?? []) for (const r of m.recipients) seen.add(r.address);
    return [...seen].sort();
  }, [recent.data]);

  const [recipients, setRecipients] = useState<string[]>([]);
  const [typed, setTyped] = useState('');
  const [attachments, setAttachments] = useState<Attachment[]>([]);
  const [dragging, setDragging] = useState(false);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [sent, setSent] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const form = useRef<HTMLFormElement>(null);
  const verified = (domains.data?.data ?? []).filter((d) => d.status === 'verified');

  function addRecipients(text: string) {
    const added = splitAddresses(text).filter((a) => !recipients.includes(a));
    if (added.length) setRecipients([...recipients, ...added]);
    setTyped('');
    setPreview(null);
  }

  function onRecipientKey(event: KeyboardEvent<HTMLInputElement>) {
    if ((event.key === 'Enter' || event.key === ',') && typed.trim()) {
      event.preventDefault();
      addRecipients(typed);
    }
  }

  async function addFiles(files: FileList | null) {
    if (!files) return;
    const read = await Promise.all(
      [...files].map(async (file) => ({
        filename: file.name,
        content_type: file.type || 'application/octet-stream',
        content: base64(await file.arrayBuffer()),
        size: file.size,
      })),
    );
    setAttachments((current) => [...current, ...read]);
    setPreview(null);
  }

  function onDrop(event: DragEvent<HTMLDivElement>) {
    event.preventDefault();
    setDragging(false);
    void addFiles(event.dataTransfer.files);
  }

  function request() {
    const data = new FormData(form.current!);
    const all = [...recipients, ...splitAddresses(typed)];
    const local = (data.get('from-local') as string).trim();
    return {
      from: {
        name: (data.get('from-name') as string).trim() || undefined,
        address: `${local}@${data.get('from-domain')}`,
      },
      to: all,
      subject: data.get('subject') as string,
      text: data.get('text') as string,
      protection: data.get('protection') as string,
      ...(attachments.length
        ? {
            attachments: attachments.map(({ filename, content_type, content }) => ({
              filename,
              content_type,
              content,
            })),
          }
        : {}),
    };
  }

  async function runPreview() {
    setError(null);
    try {
      setPreview(await api<Preview>('POST', '/v1/messages/preview', { body: request() }));
    } catch (err) {
      setError((err as Error).message);
    }
  }

  async function send(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!preview) return void runPreview();
    setError(null);
    try {
      const accepted = await api<{ id: string }>('POST', '/v1/messages', { body: request() });
      setSent(accepted.id);
    } catch (err) {
      setError((err as Error).message);
    }
  }

  if (sent)
    return (
      <>
        <PageTitle>Message sent</PageTitle>
        <Status>Accepted: each recipient is now being protected and delivered.</Status>
        <p>
          <Link href={`/messages/${sent}`}>Follow the message</Link>
        </p>
      </>
    );

  return (
    <>
      <PageTitle>Compose a secure message</PageTitle>
      <ErrorText error={error ?? domains.error} />
      {domains.data && verified.length === 0 && (
        <p className="notice">
          No verified sending domain yet: <Link href="/settings/domains">add one in Settings</Link>.
        </p>
      )}
      <form ref={form} onSubmit={send} onChange={() => setPreview(null)} className="compose">
        <fieldset>
          <legend>From</legend>
          <label htmlFor="from-name">Name</label>
          <input id="from-name" name="from-name" maxLength={200} />
          <label htmlFor="from-local">Address</label>
          <div className="address">
            <input
              id="from-local"
              name="from-local"
              required
              pattern="[^@\s]+"
              aria-describedby="from-help"
            />
            <span aria-hidden="true">@</span>
            <select name="from-domain" aria-label="Sending domain" required>
              {verified.map((d) => (
                <option key={d.domain}>{d.domain}</option>
              ))}
            </select>
          </div>
          <p id="from-help" className="help">
            The part before @; the domain is one of your verified sending domains.
          </p>
        </fieldset>

        <label htmlFor="to">To</label>
        <ul className="chips" aria-label="Recipients">
          {recipients.map((address) => (
            <li key={address}>
              {address}{' '}
              <button
                type="button"
                className="link"
                aria-label={`Remove ${address}`}
                onClick={() => {
                  setRecipients(recipients.filter((a) => a !== address));
                  setPreview(null);
                }}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
        <input
          id="to"
          list="recent-recipients"
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
          onKeyDown={onRecipientKey}
          onBlur={() => typed.trim() && addRecipients(typed)}
          aria-describedby="to-help"
          autoComplete="off"
        />
        <datalist id="recent-recipients">
          {suggestions.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <p id="to-help" className="help">
          Type an address and press Enter; recent recipients are suggested.
        </p>

        <label htmlFor="subject">Subject</label>
        <input id="subject" name="subject" required maxLength={998} />
        <label htmlFor="text">Message</label>
        <textarea id="text" name="text" rows={8} required />

        <fieldset>
          <legend>Attachments</legend>
          <div
            className={`dropzone${dragging ? ' dragging' : ''}`}
            onDragOver={(e) => {
              e.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={onDrop}
            data-testid="dropzone"
          >
            <p>Drop files here, or choose them:</p>
            <label htmlFor="files">Add files</label>
            <input id="files" type="file" multiple onChange={(e) => void addFiles(e.target.files)} />
          </div>
          {attachments.length > 0 && (
            <ul className="plain">
              {attachments.map((a, i) => (
                <li key={`${a.filename}-${i}`}>
                  {a.filename} ({Math.ceil(a.size / 1024)} KB){' '}
                  <button
                    type="button"
                    className="link"
                    aria-label={`Remove ${a.filename}`}
                    onClick={() => setAttachments(attachments.filter((_, j) => j !== i))}
                  >
                    ×
                  </button>
                </li>
              ))}
            </ul>
          )}
        </fieldset>

        <fieldset>
          <legend>Protection</legend>
          {PROTECTIONS.map((p, i) => (
            <div key={p.value} className="radio">
              <input
                type="radio"
                id={`protection-${p.value}`}
                name="protection"
                value={p.value}
                defaultChecked={i === 0}
              />
              <label htmlFor={`protection-${p.value}`}>{p.label}</label>
            </div>
          ))}
        </fieldset>

        {preview && (
          <section className="panel" aria-labelledby="preview-title">
            <h2 id="preview-title">How each recipient will be protected</h2>
            {preview.dlp.phi && (
              <p>
                PHI found: {preview.dlp.findings.map((f) => `${f.kind} (${f.count})`).join(', ')}. It never
                leaves unprotected.
              </p>
            )}
            <ul className="plain" data-testid="preview">
              {preview.recipients.map((r) => (
                <li key={r.address}>
                  <strong>{r.address}</strong>: {r.method} — {r.reason}
                  {r.fallback ? ` (else ${r.fallback})` : ''}
                </li>
              ))}
            </ul>
            {!preview.sendable && (
              <ErrorText error={preview.problem?.detail ?? 'This message cannot be sent as it is.'} />
            )}
          </section>
        )}
        <div className="actions">
          <button type="button" className="secondary" onClick={() => void runPreview()}>
            Preview protection
          </button>
          <button type="submit" disabled={!!preview && !preview.sendable}>
            {preview ? 'Send' : 'Preview, then send'}
          </button>
        </div>
      </form>
    </>
  );
}
