// Sign-in and access: the networks people may sign in from (for everyone and per role), mail on a
// new device, and single sign-on with the domains the organisation proves for it (owners change
// those). A network change that would refuse the person's own address is refused by the API (409
// would_lock_out); the page says so and offers to apply it anyway.
import { type FormEvent, useState } from 'react';
import { ApiError, api } from '../../api.ts';
import { useReauth } from '../../reauth.tsx';
import { useSession } from '../../session.tsx';
import { ErrorText, PageTitle, Status, useLoad, when } from '../../ui.tsx';
import { lines, type Role, Table, useAction } from './parts.tsx';

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
  trust_provider_mfa: boolean;
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
      role_claim: text('role_claim') || 'groups',
      role_mappings: mappings,
      default_role: text('default_role') || null,
      password_sign_in: form.get('password_sign_in') === 'on',
      trust_provider_mfa: form.get('trust_provider_mfa') === 'on',
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
          sign-in through it: {when(s.last_success_at)}. Addresses that sign in through it:{' '}
          {s.allowed_domains.length > 0 ? s.allowed_domains.join(', ') : 'none yet (prove a domain below)'}.
        </p>
      )}
      {sso.data !== undefined && (
        <form onSubmit={save} key={JSON.stringify(s)}>
          <fieldset disabled={!can('sso:manage')}>
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
            <div className="radio">
              <input
                type="checkbox"
                id="sso-trust-mfa"
                name="trust_provider_mfa"
                defaultChecked={s?.trust_provider_mfa ?? false}
              />
              <label htmlFor="sso-trust-mfa">
                Trust the provider's MFA: when it says it asked for a second factor, people do not present
                theirs here (never owners; a new provider starts untrusted)
              </label>
            </div>
            <button type="submit">Save single sign-on</button>
          </fieldset>
        </form>
      )}
    </section>
  );
}

interface SsoDomain {
  domain: string;
  status: 'pending' | 'verified';
  proof: 'dns_txt' | 'sending_domain' | null;
  record: { type: 'TXT'; name: string; value: string };
  last_checked_at: string | null;
  verified_at: string | null;
}

const PROOF: Record<string, string> = {
  dns_txt: 'its TXT record',
  sending_domain: 'a verified sending domain',
};

function SsoDomains() {
  const { can } = useSession();
  const list = useLoad(() => api<{ data: SsoDomain[] }>('GET', '/v1/sso/domains'), []);
  const action = useAction(list.reload);
  const owner = can('sso:manage');

  function claim(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const domain = (new FormData(form).get('domain') as string).trim();
    void action.run(
      () => api('POST', '/v1/sso/domains', { body: { domain } }).then(() => form.reset()),
      `${domain} claimed: publish its record, then check it.`,
    );
  }

  async function check(domain: string) {
    const checked = await api<SsoDomain & { detail: string | null }>(
      'POST',
      `/v1/sso/domains/${domain}/verify`,
    );
    if (checked.status !== 'verified') throw new Error(`${domain} is not proven yet: ${checked.detail}.`);
  }

  return (
    <section aria-labelledby="sso-domains-title">
      <h2 id="sso-domains-title">Domains for single sign-on</h2>
      <p className="help">
        Only addresses in domains this organisation has proven sign in through its provider, and only they
        find it from the sign-in page. Prove one with a TXT record, or by making it a verified sending domain
        here. A domain another organisation proved cannot be claimed.
      </p>
      <ErrorText error={list.error ?? action.error} />
      {action.done && <Status>{action.done}</Status>}
      {owner && (
        <form className="inline" onSubmit={claim}>
          <label htmlFor="sso-new-domain">Claim a domain</label>
          <input id="sso-new-domain" name="domain" required placeholder="clinic.example" />
          <button type="submit">Claim domain</button>
        </form>
      )}
      {list.data && (
        <Table
          caption="Domains for single sign-on"
          rows={list.data.data}
          columns={[
            ['Domain', (d) => d.domain],
            [
              'Status',
              (d) =>
                d.status === 'verified'
                  ? `proven by ${PROOF[d.proof ?? ''] ?? d.proof}, ${when(d.verified_at)}`
                  : `not proven yet (checked ${when(d.last_checked_at)})`,
            ],
            ['TXT name', (d) => <code className="copy">{d.record.name}</code>],
            ['TXT value', (d) => <code className="copy">{d.record.value}</code>],
            [
              'Actions',
              (d) =>
                owner && (
                  <>
                    {d.status !== 'verified' && (
                      <button
                        type="button"
                        onClick={() => void action.run(() => check(d.domain), `${d.domain} proven.`)}
                      >
                        Check {d.domain} now
                      </button>
                    )}
                    <button
                      type="button"
                      className="secondary"
                      onClick={() =>
                        void action.run(
                          () => api('DELETE', `/v1/sso/domains/${d.domain}`),
                          `${d.domain} given up.`,
                        )
                      }
                    >
                      Give up {d.domain}
                    </button>
                  </>
                ),
            ],
          ]}
        />
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
      <SsoDomains />
    </>
  );
}
