// Sign-in and access: the networks people may sign in from (for everyone and per role), mail on a
// new device, and single sign-on. A network change that would refuse the person's own address is
// refused by the API (409 would_lock_out); the page says so and offers to apply it anyway.
import { type FormEvent, useState } from 'react';
import { ApiError, api } from '../../api.ts';
import { useReauth } from '../../reauth.tsx';
import { useSession } from '../../session.tsx';
import { ErrorText, PageTitle, Status, useLoad, when } from '../../ui.tsx';
import { lines, type Role, useAction } from './parts.tsx';

interface AccessPolicy {
  networks: string[];
  role_networks: Record<string, string[]>;
  notify_new_device: boolean;
}

function NetworkPolicy({ roles }: { roles: Role[] | undefined }) {
  const { can } = useSession();
  const reauth = useReauth();
  const policy = useLoad(() => api<AccessPolicy>('GET', '/v1/policies/access'), []);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  // The change the API refused because it would lock the person out, kept for "apply anyway".
  const [refused, setRefused] = useState<{ body: object; message: string } | null>(null);
  const p = policy.data;
  // Every role with a list, and every role one can see: a list can be set for each.
  const roleIds = [...new Set([...(roles ?? []).map((r) => r.id), ...Object.keys(p?.role_networks ?? {})])];

  async function apply(body: object, force: boolean) {
    setError(null);
    setDone(null);
    try {
      await reauth(() => api('PATCH', '/v1/policies/access', { body: force ? { ...body, force } : body }));
      setRefused(null);
      setDone(
        force ? 'Access policy applied, although it refuses your own address.' : 'Access policy saved.',
      );
      await policy.reload();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'would_lock_out')
        setRefused({ body, message: err.message });
      else setError((err as Error).message);
    }
  }

  function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const role_networks: Record<string, string[]> = {};
    for (const id of roleIds) role_networks[id] = lines(form.get(`role-${id}`) as string);
    void apply(
      {
        networks: lines(form.get('networks') as string),
        role_networks,
        notify_new_device: form.get('notify_new_device') === 'on',
      },
      false,
    );
  }

  const label = (id: string) => roles?.find((r) => r.id === id)?.name ?? id;
  return (
    <section aria-labelledby="networks-title">
      <h2 id="networks-title">Where people may sign in from</h2>
      <ErrorText error={policy.error ?? error} />
      {done && <Status>{done}</Status>}
      {refused && (
        <div className="notice" role="alert">
          <p>
            <strong>Not saved: this would lock you out.</strong> {refused.message}
          </p>
          <button type="button" className="danger" onClick={() => void apply(refused.body, true)}>
            Apply anyway
          </button>
          <button type="button" className="secondary" onClick={() => setRefused(null)}>
            Keep editing
          </button>
        </div>
      )}
      {p && (
        <form onSubmit={save}>
          <fieldset disabled={!can('policy:manage')}>
            <legend>Allowed networks</legend>
            <p className="help">
              IPv4 or IPv6 ranges in CIDR form (a bare address is one host), one per line. Empty: anywhere.
              Sign-in, sessions and API keys from elsewhere are refused.
            </p>
            <label htmlFor="networks">For the whole organisation</label>
            <textarea id="networks" name="networks" rows={3} defaultValue={p.networks.join('\n')} />
            {roleIds.map((id) => (
              <div key={id}>
                <label htmlFor={`role-${id}`}>Also for the role {label(id)}</label>
                <textarea
                  id={`role-${id}`}
                  name={`role-${id}`}
                  rows={2}
                  defaultValue={(p.role_networks[id] ?? []).join('\n')}
                />
              </div>
            ))}
            <div className="radio">
              <input
                type="checkbox"
                id="notify_new_device"
                name="notify_new_device"
                defaultChecked={p.notify_new_device}
              />
              <label htmlFor="notify_new_device">
                Mail people when they sign in from a new device or network address
              </label>
            </div>
            <button type="submit">Save access policy</button>
          </fieldset>
        </form>
      )}
    </section>
  );
}

interface Sso {
  slug: string | null;
  enabled: boolean;
  issuer: string;
  client_id: string;
  client_secret_set: boolean;
  allowed_domains: string[];
  role_claim: string;
  role_mappings: { value: string; role: string }[];
  default_role: string | null;
  password_sign_in: boolean;
  redirect_uri: string;
  last_success_at: string | null;
}

function SingleSignOn({ roles }: { roles: Role[] | undefined }) {
  const { can } = useSession();
  // Not set up yet is a 404: an empty form, not an error.
  const sso = useLoad(
    () =>
      api<Sso>('GET', '/v1/sso').catch((err) => {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }),
    [],
  );
  const action = useAction(sso.reload);
  const s = sso.data;

  function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => (form.get(name) as string).trim();
    // One per line only: a claim value may hold a comma.
    const mappings = (form.get('role_mappings') as string)
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => {
        const at = line.includes('=') ? line.lastIndexOf('=') : line.length;
        return { value: line.slice(0, at).trim(), role: line.slice(at + 1).trim() };
      });
    const body: Record<string, unknown> = {
      enabled: form.get('enabled') === 'on',
      issuer: text('issuer'),
      client_id: text('client_id'),
      allowed_domains: lines(form.get('allowed_domains') as string),
      role_claim: text('role_claim') || 'groups',
      role_mappings: mappings,
      default_role: text('default_role') || null,
      password_sign_in: form.get('password_sign_in') === 'on',
      slug: text('slug') || null,
    };
    // Write-only: sent when typed, otherwise the one on file stays.
    if (text('client_secret')) body.client_secret = text('client_secret');
    const target = event.currentTarget;
    void action
      .run(() => api('PUT', '/v1/sso', { body }), 'Single sign-on saved.')
      .then((ok) => ok && target.reset());
  }

  return (
    <section aria-labelledby="sso-title">
      <h2 id="sso-title">Single sign-on (OpenID Connect)</h2>
      <ErrorText error={sso.error ?? action.error} />
      {action.done && <Status>{action.done}</Status>}
      {s && (
        <p>
          Register <code className="copy">{s.redirect_uri}</code> as the redirect URI at the provider. Last
          sign-in through it: {when(s.last_success_at)}.
        </p>
      )}
      {sso.data !== undefined && (
        <form onSubmit={save} key={JSON.stringify(s)}>
          <fieldset disabled={!can('policy:manage')}>
            <legend>Provider</legend>
            <div className="radio">
              <input type="checkbox" id="sso-enabled" name="enabled" defaultChecked={s?.enabled ?? false} />
              <label htmlFor="sso-enabled">Single sign-on is on</label>
            </div>
            <label htmlFor="sso-issuer">Issuer URL</label>
            <input
              id="sso-issuer"
              name="issuer"
              type="url"
              required
              maxLength={500}
              defaultValue={s?.issuer}
            />
            <label htmlFor="sso-client-id">Client ID</label>
            <input id="sso-client-id" name="client_id" required maxLength={500} defaultValue={s?.client_id} />
            <label htmlFor="sso-client-secret">Client secret</label>
            <p className="help" id="sso-secret-help">
              {s?.client_secret_set
                ? 'A secret is on file and never shown. Leave empty to keep it; type one to replace it.'
                : 'Required the first time.'}
            </p>
            <input
              id="sso-client-secret"
              name="client_secret"
              type="password"
              autoComplete="off"
              maxLength={2000}
              required={!s?.client_secret_set}
              aria-describedby="sso-secret-help"
            />
            <label htmlFor="sso-domains">Allowed email domains (one per line)</label>
            <textarea
              id="sso-domains"
              name="allowed_domains"
              rows={2}
              required
              defaultValue={s?.allowed_domains.join('\n')}
            />
            <label htmlFor="sso-slug">Short name for sign-in links (optional)</label>
            <input
              id="sso-slug"
              name="slug"
              pattern="[a-z0-9][a-z0-9\-]{1,62}"
              defaultValue={s?.slug ?? ''}
            />
            <label htmlFor="sso-claim">Claim that carries groups or roles</label>
            <input
              id="sso-claim"
              name="role_claim"
              maxLength={100}
              defaultValue={s?.role_claim ?? 'groups'}
            />
            <label htmlFor="sso-mappings">Role mappings, one per line: claim value = role id</label>
            <p className="help" id="sso-mappings-help">
              The first match wins, at every sign-in (never for owners). Role ids:{' '}
              {(roles ?? []).map((r) => `${r.id} (${r.name})`).join(', ') || 'see Roles'}.
            </p>
            <textarea
              id="sso-mappings"
              name="role_mappings"
              rows={3}
              aria-describedby="sso-mappings-help"
              defaultValue={s?.role_mappings.map((m) => `${m.value} = ${m.role}`).join('\n')}
            />
            <label htmlFor="sso-default-role">Role of people signing in the first time</label>
            <select id="sso-default-role" name="default_role" defaultValue={s?.default_role ?? ''}>
              <option value="">None: only existing or mapped users sign in</option>
              {(roles ?? []).map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name}
                </option>
              ))}
            </select>
            <div className="radio">
              <input
                type="checkbox"
                id="sso-passwords"
                name="password_sign_in"
                defaultChecked={s?.password_sign_in ?? true}
              />
              <label htmlFor="sso-passwords">
                Passwords still work (turn off for SSO only, once an SSO sign-in has worked; owners keep
                theirs)
              </label>
            </div>
            <button type="submit">Save single sign-on</button>
          </fieldset>
        </form>
      )}
    </section>
  );
}

export function Access() {
  const { can } = useSession();
  const roles = useLoad(
    async () => (can('roles:read') ? (await api<{ data: Role[] }>('GET', '/v1/roles')).data : undefined),
    [can],
  );
  return (
    <>
      <PageTitle>Sign-in and access</PageTitle>
      <ErrorText error={roles.error} />
      <NetworkPolicy roles={roles.data} />
      <SingleSignOn roles={roles.data} />
    </>
  );
}
