// Recipient keys: OpenPGP public keys and S/MIME certificates on file, added by pasting or from a
// file, and removed. The server checks each key can encrypt to the address before keeping it.
import { type FormEvent, type ReactNode, useState } from 'react';
import { api } from '../../api.ts';
import { useSession } from '../../session.tsx';
import { ErrorText, PageTitle, Status, useLoad, when } from '../../ui.tsx';
import { base64Of, Table, useAction } from './parts.tsx';

interface RecipientKey {
  id: string;
  address: string;
  kind: string;
  fingerprint: string;
  algorithm: string;
  expires_at: string | null;
}

/** Armored keys and PEM certificates are text; anything else is taken for DER and sent as base64. */
async function keyText(file: File): Promise<string> {
  const text = await file.text();
  return text.includes('-----BEGIN') ? text : base64Of(file);
}

export function RecipientKeys() {
  const { can } = useSession();
  const list = useLoad(() => api<{ data: RecipientKey[] }>('GET', '/v1/recipient-keys'), []);
  const action = useAction(list.reload);
  const [pasted, setPasted] = useState('');
  const manage = can('recipient_keys:manage');

  function add(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const address = (new FormData(form).get('address') as string).trim();
    void action
      .run(
        () => api('POST', '/v1/recipient-keys', { body: { address, key: pasted } }),
        `Key for ${address} added.`,
      )
      .then((ok) => {
        if (!ok) return;
        form.reset();
        setPasted('');
      });
  }

  function remove(key: RecipientKey) {
    if (!window.confirm(`Remove the ${key.kind} key of ${key.address}?`)) return;
    void action.run(() => api('DELETE', `/v1/recipient-keys/${key.id}`), `Key of ${key.address} removed.`);
  }

  return (
    <>
      <PageTitle>Recipient keys</PageTitle>
      <p>OpenPGP keys and S/MIME certificates on file: mail to these addresses is encrypted end to end.</p>
      <ErrorText error={list.error ?? action.error} />
      {action.done && <Status>{action.done}</Status>}
      {list.data && (
        <Table
          caption="Recipient keys"
          rows={list.data.data}
          columns={[
            ['Address', (k) => k.address],
            ['Kind', (k) => `${k.kind} (${k.algorithm})`],
            ['Fingerprint', (k) => <code>{k.fingerprint}</code>],
            ['Expires', (k) => when(k.expires_at)],
            ...(manage
              ? [
                  [
                    'Actions',
                    (k: RecipientKey) => (
                      <button type="button" className="danger" onClick={() => remove(k)}>
                        Remove key of {k.address}
                      </button>
                    ),
                  ] as [string, (k: RecipientKey) => ReactNode],
                ]
              : []),
          ]}
        />
      )}
      {manage && (
        <form onSubmit={add}>
          <h2>Add a key</h2>
          <label htmlFor="key-address">Recipient&apos;s address</label>
          <input id="key-address" name="address" type="email" required maxLength={320} />
          <label htmlFor="key-text">OpenPGP public key or S/MIME certificate (armored or PEM)</label>
          <textarea
            id="key-text"
            name="key"
            rows={8}
            required
            value={pasted}
            onChange={(e) => setPasted(e.currentTarget.value)}
          />
          <label htmlFor="key-file">Or take it from a file (.asc, .pem, .cer, .crt)</label>
          <input
            id="key-file"
            type="file"
            accept=".asc,.gpg,.pgp,.pem,.cer,.crt,.der"
            onChange={(e) => {
              const file = e.currentTarget.files?.[0];
              if (file) void keyText(file).then(setPasted);
            }}
          />
          <div>
            <button type="submit">Add key</button>
          </div>
        </form>
      )}
    </>
  );
}
