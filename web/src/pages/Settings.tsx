// Settings, one page per area, each over its own public endpoints: sending domains (the records to
// publish and a live check), recipient keys, SecureLine policy, API keys, webhooks with their
// delivery logs, and users with their roles. Areas the person has no permission for are not listed.
import { type FormEvent, type ReactNode, useState } from 'react';
import { Link, Route, Switch } from 'wouter';
import { api } from '../api.ts';
import { useReauth } from '../reauth.tsx';
import { useSession } from '../session.tsx';
import { ErrorText, PageTitle, Status, useLoad, when } from '../ui.tsx';

const AREAS = [
  { href: '/domains', label: 'Sending domains', permission: 'domains:read' },
  { href: '/recipient-keys', label: 'Recipient keys', permission: 'recipient_keys:read' },
  { href: '/policy', label: 'SecureLine policy', permission: 'policy:read' },
  { href: '/api-keys', label: 'API keys', permission: 'api_keys:read' },
  { href: '/webhooks', label: 'Webhooks', permission: 'webhooks:read' },
  { href: '/users', label: 'Users and roles', permission: 'users:read' },
];

/** A table of rows with the given columns: the shape most settings lists share. */
function Table<T>({
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

function useAction(after: () => Promise<void>) {
  const reauth = useReauth();
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  async function run(call: () => Promise<unknown>, message: string) {
    setError(null);
    setDone(null);
    try {
      await reauth(call);
      setDone(message);
      await after();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return { run, error, done };
}

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

function RecipientKeys() {
  const list = useLoad(
    () =>
      api<{
        data: { id: string; address: string; kind: string; fingerprint: string; expires_at: string | null }[];
      }>('GET', '/v1/recipient-keys'),
    [],
  );
  return (
    <>
      <PageTitle>Recipient keys</PageTitle>
      <p>OpenPGP keys and S/MIME certificates on file: mail to these addresses is encrypted end to end.</p>
      <ErrorText error={list.error} />
      {list.data && (
        <Table
          caption="Recipient keys"
          rows={list.data.data}
          columns={[
            ['Address', (k) => k.address],
            ['Kind', (k) => k.kind],
            ['Fingerprint', (k) => <code>{k.fingerprint}</code>],
            ['Expires', (k) => when(k.expires_at)],
          ]}
        />
      )}
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
}

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
        body: { name: form.get('name'), scopes },
      });
      setToken(created.token);
    }, 'API key created.');
  }
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
      {can('api_keys:manage') && (
        <form onSubmit={create}>
          <h2>New API key</h2>
          <label htmlFor="key-name">Name</label>
          <input id="key-name" name="name" required maxLength={100} />
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

interface Endpoint {
  id: string;
  url: string;
  description: string;
  enabled: boolean;
  consecutive_failures: number;
  last_success_at: string | null;
}
interface HookAttempt {
  id: string;
  event_type: string;
  kind: string;
  attempt: number;
  started_at: string;
  status: number | null;
  error: string | null;
  delivery_state: string;
}

function Webhooks() {
  const list = useLoad(() => api<{ data: Endpoint[] }>('GET', '/v1/webhooks'), []);
  const [open, setOpen] = useState<string | null>(null);
  const attempts = useLoad(
    async () => (open ? api<{ data: HookAttempt[] }>('GET', `/v1/webhooks/${open}/attempts`) : null),
    [open],
  );
  return (
    <>
      <PageTitle>Webhooks</PageTitle>
      <ErrorText error={list.error ?? attempts.error} />
      {list.data && (
        <Table
          caption="Webhook endpoints"
          rows={list.data.data}
          columns={[
            ['URL', (e) => e.url],
            [
              'State',
              (e) =>
                e.enabled ? `enabled, ${e.consecutive_failures} failures since last success` : 'disabled',
            ],
            ['Last success', (e) => when(e.last_success_at)],
            [
              'Delivery log',
              (e) => (
                <button type="button" className="secondary" onClick={() => setOpen(e.id)}>
                  Delivery log of {e.url}
                </button>
              ),
            ],
          ]}
        />
      )}
      {open && attempts.data && (
        <>
          <h2>Delivery log</h2>
          <Table
            caption="Delivery attempts, newest first"
            rows={attempts.data.data}
            columns={[
              ['Started', (a) => when(a.started_at)],
              ['Event', (a) => `${a.event_type} (${a.kind})`],
              ['Attempt', (a) => a.attempt],
              ['HTTP status', (a) => a.status ?? a.error ?? '—'],
              ['Delivery', (a) => a.delivery_state],
            ]}
          />
        </>
      )}
    </>
  );
}

function Users() {
  const { can } = useSession();
  const users = useLoad(
    () =>
      api<{
        data: { id: string; email: string; role: string; status: string; last_login_at: string | null }[];
      }>('GET', '/v1/users'),
    [],
  );
  const roles = useLoad(
    async () =>
      can('roles:read')
        ? api<{ data: { name: string; description?: string; permissions: string[] }[] }>('GET', '/v1/roles')
        : null,
    [can],
  );
  return (
    <>
      <PageTitle>Users and roles</PageTitle>
      <ErrorText error={users.error ?? roles.error} />
      {users.data && (
        <Table
          caption="Users"
          rows={users.data.data}
          columns={[
            ['Email', (u) => u.email],
            ['Role', (u) => u.role],
            ['Status', (u) => u.status],
            ['Last sign-in', (u) => when(u.last_login_at)],
          ]}
        />
      )}
      {roles.data && (
        <>
          <h2>Roles</h2>
          <Table
            caption="Roles and their permissions"
            rows={roles.data.data}
            columns={[
              ['Role', (r) => r.name],
              ['Permissions', (r) => r.permissions.join(', ')],
            ]}
          />
        </>
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

export function Settings() {
  return (
    <Switch>
      <Route path="/" component={Index} />
      <Route path="/domains" component={Domains} />
      <Route path="/recipient-keys" component={RecipientKeys} />
      <Route path="/policy" component={PolicyPage} />
      <Route path="/api-keys" component={ApiKeys} />
      <Route path="/webhooks" component={Webhooks} />
      <Route path="/users" component={Users} />
    </Switch>
  );
}
