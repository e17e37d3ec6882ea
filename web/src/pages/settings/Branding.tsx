// Branding: the name, colour and logo recipients see in portal notices and the portal. Seen with
// org:read, changed with branding:manage. The logo is checked by the server for what it really is.
import { type FormEvent, useState } from 'react';
import { api } from '../../api.ts';
import { useSession } from '../../session.tsx';
import { ErrorText, PageTitle, Status, useLoad } from '../../ui.tsx';
import { base64Of, useAction } from './parts.tsx';

interface Branding {
  display_name: string | null;
  color: string | null;
  logo: { content_type: string; size: number } | null;
}

const LOGO_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
const MAX_LOGO_BYTES = 200_000;

export function BrandingPage() {
  const { can } = useSession();
  const branding = useLoad(() => api<Branding>('GET', '/v1/branding'), []);
  const action = useAction(branding.reload);
  const [preview, setPreview] = useState<string | null>(null);
  const [fileError, setFileError] = useState<string | null>(null);
  const b = branding.data;

  function choose(file: File | undefined) {
    setFileError(null);
    setPreview(null);
    if (!file) return;
    if (!LOGO_TYPES.includes(file.type)) setFileError('The logo must be a PNG, JPEG, GIF or WebP image.');
    else if (file.size > MAX_LOGO_BYTES)
      setFileError(`The logo must be at most ${MAX_LOGO_BYTES / 1000} KB.`);
    else {
      // A data: URL, which the CSP allows for images (blob: it does not).
      const reader = new FileReader();
      reader.onload = () => setPreview(reader.result as string);
      reader.readAsDataURL(file);
    }
  }

  function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (fileError) return;
    const target = event.currentTarget;
    const form = new FormData(target);
    const name = (form.get('display_name') as string).trim();
    const color = (form.get('color') as string).trim();
    const file = form.get('logo') as File | null;
    void action
      .run(async () => {
        const body: Record<string, unknown> = { display_name: name || null, color: color || null };
        if (file && file.size > 0) body.logo = { content_type: file.type, content: await base64Of(file) };
        else if (form.get('remove_logo') === 'on') body.logo = null;
        await api('PUT', '/v1/branding', { body });
      }, 'Branding saved.')
      .then((ok) => {
        if (!ok) return;
        target.reset();
        setPreview(null);
      });
  }

  return (
    <>
      <PageTitle>Branding</PageTitle>
      <p>What recipients see of your organisation in portal notices and in the portal.</p>
      <ErrorText error={branding.error ?? action.error} />
      {action.done && <Status>{action.done}</Status>}
      {b && (
        <form onSubmit={save} key={JSON.stringify(b)}>
          <fieldset disabled={!can('branding:manage')}>
            <legend>Portal branding</legend>
            <label htmlFor="brand-name">Name shown (empty: the organisation&apos;s name)</label>
            <input id="brand-name" name="display_name" maxLength={100} defaultValue={b.display_name ?? ''} />
            <label htmlFor="brand-color">Colour, as #rrggbb (empty: the default)</label>
            <p className="help" id="brand-color-help">
              Choose one dark enough for white text on it (a contrast of 4.5:1).
            </p>
            <input
              id="brand-color"
              name="color"
              pattern="#[0-9a-fA-F]{6}"
              placeholder="#0b4f8a"
              aria-describedby="brand-color-help"
              defaultValue={b.color ?? ''}
            />
            <label htmlFor="brand-logo">Logo (PNG, JPEG, GIF or WebP, at most 200 KB)</label>
            <p className="help" id="brand-logo-help">
              {b.logo
                ? `On file: ${b.logo.content_type}, ${(b.logo.size / 1000).toFixed(1)} KB. Choose a file to replace it.`
                : 'None on file.'}
            </p>
            <input
              id="brand-logo"
              name="logo"
              type="file"
              accept={LOGO_TYPES.join(',')}
              aria-describedby="brand-logo-help"
              onChange={(e) => choose(e.currentTarget.files?.[0])}
            />
            <ErrorText error={fileError} />
            {preview && <img className="logo-preview" src={preview} alt="The logo chosen" />}
            {b.logo && (
              <div className="radio">
                <input type="checkbox" id="brand-remove-logo" name="remove_logo" />
                <label htmlFor="brand-remove-logo">Remove the logo</label>
              </div>
            )}
            <div>
              <button type="submit">Save branding</button>
            </div>
          </fieldset>
        </form>
      )}
    </>
  );
}
