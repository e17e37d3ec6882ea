// Settings, one page per area, each over its own public endpoints: sending domains (the records to
// publish and a live check), recipient keys, SecureLine policy, sign-in and access (networks, single
// sign-on), API keys, webhooks with their delivery logs, users and invitations, roles, and branding.
// Areas the person has no permission for are not listed. The whole area is a chunk of its own, loaded
// when Settings is first opened.
import { type FormEvent, useState } from 'react';
import { Link, Route, Switch } from 'wouter';
import { api } from '../api.ts';
import { useSession } from '../session.tsx';
import { ErrorText, PageTitle, Status, useLoad, when } from '../ui.tsx';
import { Access } from './settings/Access.tsx';
import { BrandingPage } from './settings/Branding.tsx';
import { Table, useAction } from './settings/parts.tsx';
import { RecipientKeys } from './settings/RecipientKeys.tsx';
import { Roles } from './settings/Roles.tsx';
import { Users } from './settings/Users.tsx';
import { Webhooks } from './settings/Webhooks.tsx';

const AREAS = [
  { href: '/domains', label: 'Sending domains', permission: 'domains:read' },
  { href: '/recipient-keys', label: 'Recipient keys', permission: 'recipient_keys:read' },
  { href: '/policy', label: 'SecureLine policy', permission: 'policy:read' },
  { href: '/access', label: 'Sign-in and access', permission: 'policy:read' },
  { href: '/api-keys', label: 'API keys', permission: 'api_keys:read' },
  { href: '/webhooks', label: 'Webhooks', permission: 'webhooks:read' },
  { href: '/users', label: 'Users and invitations', permission: 'users:read' },
  { href: '/roles', label: 'Roles', permission: 'roles:read' },
  { href: '/branding', label: 'Branding', permission: 'org:read' },
];

interface DomainRecord {
  type: string;
  name: string;
  value: string;
  purpose: string;
  required: boolean;
  status?: string;
  detail?: string;
}
interface Domain {
  domain: string;
  status: string;
  verified_at: string | null;
  last_checked_at: string | null;
  records: DomainRecord[];
  last_check: { verified: boolean; missing: string[]; records: DomainRecord[] } | null;
}

function Domains() {
  const { can } = useSession();
  const list = useLoad(() => api<{ data: Domain[] }>('GET', '/v1/domains'), []);
  const action = useAction(list.reload);
  function add(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const domain = (new FormData(form).get('domain') as string).trim();
    void action.run(
      () => api('POST', '/v1/domains', { body: { domain } }).then(() => form.reset()),
      `${domain} added: publish its records.`,
    );
  }
  return (
    <>
      <PageTitle>Sending domains</PageTitle>
      <ErrorText error={list.error ?? action.error} />
      {action.done && <Status>{action.done}</Status>}
      {can('domains:manage') && (
        <form className="inline" onSubmit={add}>
          <label htmlFor="new-domain">Add a domain</label>
          <input id="new-domain" name="domain" required placeholder="clinic.example" />
          <button type="submit">Add domain</button>
        </form>
      )}
      {list.data?.data.map((d) => {
        const checked = new Map((d.last_check?.records ?? []).map((r) => [`${r.name} ${r.purpose}`, r]));
        return (
          <section key={d.domain} className="panel" aria-labelledby={`d-${d.domain}`}>
            <h2 id={`d-${d.domain}`}>
              {d.domain} <span className={`badge state-${d.status}`}>{d.status}</span>
            </h2>
            <p>
              Last checked {when(d.last_checked_at)}
              {d.last_check && !d.last_check.verified && `: missing ${d.last_check.missing.join(', ')}`}
            </p>
            <Table
              caption={`DNS records for ${d.domain}`}
              rows={d.records}
              columns={[
                ['Purpose', (r) => `${r.purpose}${r.required ? '' : ' (optional)'}`],
                ['Name', (r) => <code className="copy">{r.name}</code>],
                ['TXT value', (r) => <code className="copy">{r.value}</code>],
                ['Check', (r) => checked.get(`${r.name} ${r.purpose}`)?.status ?? '—'],
              ]}
            />
            {can('domains:manage') && (
              <button
                type="button"
                onClick={() =>
                  void action.run(() => api('POST', `/v1/domains/${d.domain}/verify`), `${d.domain} checked.`)
                }
              >
                Check {d.domain} now
              </button>
            )}
          </section>
        );
      })}
    </>
  );
}

type Policy = Record<string, string | number | boolean | null>;
const POLICY_FIELDS: { name: string; label: string; options?: string[] }[] = [
  { name: 'tls_for_phi', label: 'Enforced TLS alone may carry messages with PHI' },
  { name: 'opportunistic_tls_without_phi', label: 'Messages without PHI may go over unverified TLS' },
  { name: 'hide_subject', label: 'Hide the subject outside OpenPGP and S/MIME mail' },
  { name: 'notice_subject', label: 'Portal notices show the subject when it holds no PHI' },
  {
    name: 'portal_verification',
    label: 'How portal recipients prove who they are',
    options: ['email', 'sms', 'passphrase'],
  },
  { name: 'portal_replies', label: 'Who portal replies reach', options: ['none', 'sender', 'all'] },
  { name: 'smime_algorithm', label: 'S/MIME content encryption', options: ['aes-256-gcm', 'aes-256-cbc'] },
];

function PolicyPage() {
  const { can } = useSession();
  const policy = useLoad(() => api<Policy>('GET', '/v1/policies/secureline'), []);
  const action = useAction(policy.reload);
  function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const change: Policy = {};
    for (const field of POLICY_FIELDS)
      change[field.name] = field.options ? (form.get(field.name) as string) : form.get(field.name) === 'on';
    const days = form.get('portal_expiry_days') as string;
    change.portal_expiry_days = days ? Number(days) : null;
    void action.run(() => api('PATCH', '/v1/policies/secureline', { body: change }), 'Policy saved.');
  }
  const p = policy.data;
  return (
    <>
      <PageTitle>SecureLine policy</PageTitle>
      <ErrorText error={policy.error ?? action.error} />
      {action.done && <Status>{action.done}</Status>}
      {p && (
        <form onSubmit={save}>
          <fieldset disabled={!can('policy:manage')}>
            <legend>How each recipient is protected</legend>
            {POLICY_FIELDS.map((field) =>
              field.options ? (
                <div key={field.name}>
                  <label htmlFor={field.name}>{field.label}</label>
                  <select id={field.name} name={field.name} defaultValue={String(p[field.name])}>
                    {field.options.map((o) => (
                      <option key={o}>{o}</option>
                    ))}
                  </select>
                </div>
              ) : (
                <div key={field.name} className="radio">
                  <input
                    type="checkbox"
                    id={field.name}
                    name={field.name}
                    defaultChecked={p[field.name] === true}
                  />
                  <label htmlFor={field.name}>{field.label}</label>
                </div>
              ),
            )}
            <label htmlFor="portal_expiry_days">
              Portal messages readable for (days; empty: the server default)
            </label>
            <input
              id="portal_expiry_days"
              name="portal_expiry_days"
              type="number"
              min={1}
              max={3650}
              defaultValue={p.portal_expiry_days === null ? '' : String(p.portal_expiry_days)}
            />
            <button type="submit">Save policy</button>
          </fieldset>
        </form>
      )}
    </>
  );
}

interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  rate_limit_per_minute: number | null;
}

/** A limit as typed: a whole number, or empty for the installation's default. */
const limitOf = (value: FormDataEntryValue | null) => (value ? Number(value) : null);

function ApiKeys() {
  const { can, session } = useSession();
  const list = useLoad(() => api<{ data: ApiKey[] }>('GET', '/v1/api-keys'), []);
  const action = useAction(list.reload);
  const [token, setToken] = useState<string | null>(null);
  function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const scopes = form.getAll('scopes') as string[];
    void action.run(async () => {
      const created = await api<{ token: string }>('POST', '/v1/api-keys', {
        body: { name: form.get('name'), scopes, rate_limit_per_minute: limitOf(form.get('rate_limit')) },
      });
      setToken(created.token);
    }, 'API key created.');
  }
  function setLimit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const key = list.data?.data.find((k) => k.id === form.get('key'));
    if (!key) return;
    void action.run(
      () =>
        api('PATCH', `/v1/api-keys/${key.id}`, {
          body: { rate_limit_per_minute: limitOf(form.get('rate_limit')) },
        }),
      `${key.name}: rate limit changed.`,
    );
  }
  const active = list.data?.data.filter((k) => !k.revoked_at) ?? [];
  return (
    <>
      <PageTitle>API keys</PageTitle>
      <ErrorText error={list.error ?? action.error} />
      {action.done && <Status>{action.done}</Status>}
      {token && (
        <p className="notice">
          The new key, shown once: <code className="copy">{token}</code>
        </p>
      )}
      {list.data && (
        <Table
          caption="API keys"
          rows={list.data.data}
          columns={[
            ['Name', (k) => k.name],
            ['Key', (k) => <code>{k.prefix}…</code>],
            ['Permissions', (k) => k.scopes.join(', ')],
            [
              'Requests a minute',
              (k) =>
                k.rate_limit_per_minute === null ? 'default' : k.rate_limit_per_minute.toLocaleString(),
            ],
            ['Last used', (k) => when(k.last_used_at)],
            [
              'State',
              (k) =>
                k.revoked_at ? (
                  `revoked ${when(k.revoked_at)}`
                ) : can('api_keys:manage') ? (
                  <button
                    type="button"
                    className="danger"
                    onClick={() =>
                      void action.run(() => api('DELETE', `/v1/api-keys/${k.id}`), `${k.name} revoked.`)
                    }
                  >
                    Revoke {k.name}
                  </button>
                ) : (
                  'active'
                ),
            ],
          ]}
        />
      )}
      {can('api_keys:manage') && active.length > 0 && (
        <form className="inline" onSubmit={setLimit}>
          <h2>Rate limit of a key</h2>
          <label htmlFor="limit-key">Key</label>
          <select id="limit-key" name="key" required>
            {active.map((k) => (
              <option key={k.id} value={k.id}>
                {k.name} ({k.prefix})
              </option>
            ))}
          </select>
          <label htmlFor="limit-value">Requests a minute (empty: the default)</label>
          <input id="limit-value" name="rate_limit" type="number" min={1} max={10000000} step={1} />
          <button type="submit">Set limit</button>
        </form>
      )}
      {can('api_keys:manage') && (
        <form onSubmit={create}>
          <h2>New API key</h2>
          <label htmlFor="key-name">Name</label>
          <input id="key-name" name="name" required maxLength={100} />
          <label htmlFor="key-limit">Requests a minute (empty: the default)</label>
          <input id="key-limit" name="rate_limit" type="number" min={1} max={10000000} step={1} />
          <fieldset>
            <legend>Permissions (only ones you hold)</legend>
            <div className="columns">
              {session?.permissions.map((p) => (
                <div key={p} className="radio">
                  <input type="checkbox" id={`scope-${p}`} name="scopes" value={p} />
                  <label htmlFor={`scope-${p}`}>{p}</label>
                </div>
              ))}
            </div>
          </fieldset>
          <button type="submit">Create API key</button>
        </form>
      )}
    </>
  );
}

function Index() {
  const { can } = useSession();
  return (
    <>
      <PageTitle>Settings</PageTitle>
      <ul className="plain cards">
        {AREAS.filter((a) => can(a.permission)).map((a) => (
          <li key={a.href}>
            <Link href={a.href}>{a.label}</Link>
          </li>
        ))}
        <li>
          <Link href="~/account">Your account security</Link>
        </li>
      </ul>
    </>
  );
}

export default function Settings() {
  return (
    <Switch>
      <Route path="/" component={Index} />
      <Route path="/domains" component={Domains} />
      <Route path="/recipient-keys" component={RecipientKeys} />
      <Route path="/policy" component={PolicyPage} />
      <Route path="/api-keys" component={ApiKeys} />
      <Route path="/webhooks" component={Webhooks} />
      <Route path="/access" component={Access} />
      <Route path="/users" component={Users} />
      <Route path="/roles" component={Roles} />
      <Route path="/branding" component={BrandingPage} />
    </Switch>
  );
}
