// Roles: the built-in ones (read-only) and custom ones made from the same permission set. A custom
// role can grant only what its maker holds, so permissions one lacks are shown but cannot be ticked.
import { type FormEvent, useState } from 'react';
import { api } from '../../api.ts';
import { useSession } from '../../session.tsx';
import { ErrorText, PageTitle, Status, useLoad } from '../../ui.tsx';
import { type Role, Table, useAction } from './parts.tsx';

// Permissions are grouped by what they are about (the part before the colon), in this order.
const GROUPS: [string, string[]][] = [
  ['Mail', ['messages', 'domains', 'recipient_keys', 'suppressions', 'sandbox', 'webhooks']],
  ['People and access', ['users', 'roles', 'policy', 'api_keys']],
  ['Organisation', ['org', 'branding', 'keys']],
  ['Oversight', ['audit', 'reports']],
];

function grouped(permissions: string[]): [string, string[]][] {
  const placed = new Set<string>();
  const groups = GROUPS.map(([title, areas]): [string, string[]] => {
    const members = permissions.filter((p) => areas.includes(p.split(':')[0]!));
    members.forEach((p) => placed.add(p));
    return [title, members];
  });
  groups.push(['Other', permissions.filter((p) => !placed.has(p))]);
  return groups.filter(([, members]) => members.length > 0);
}

interface RoleList {
  data: Role[];
  permissions: string[];
  permission_descriptions: Record<string, string>;
}

function RoleForm({
  role,
  all,
  onSave,
  onCancel,
}: {
  role: Role | null;
  all: RoleList;
  onSave(body: { name: string; description: string | null; permissions: string[] }): void;
  onCancel(): void;
}) {
  const { session } = useSession();
  const held = new Set(session?.permissions);
  const prefix = role ? `edit-${role.id}` : 'new-role';
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const description = (form.get('description') as string).trim();
    onSave({
      name: (form.get('name') as string).trim(),
      description: description || null,
      permissions: form.getAll('permissions') as string[],
    });
  }
  return (
    <form onSubmit={submit} aria-labelledby={`${prefix}-title`}>
      <h2 id={`${prefix}-title`}>{role ? `Edit ${role.name}` : 'New custom role'}</h2>
      <label htmlFor={`${prefix}-name`}>Name</label>
      <input id={`${prefix}-name`} name="name" required maxLength={100} defaultValue={role?.name} />
      <label htmlFor={`${prefix}-description`}>Description (optional)</label>
      <input
        id={`${prefix}-description`}
        name="description"
        maxLength={500}
        defaultValue={role?.description ?? ''}
      />
      {grouped(all.permissions).map(([title, members]) => (
        <fieldset key={title}>
          <legend>{title}</legend>
          <div className="columns">
            {members.map((p) => {
              const id = `${prefix}-${p}`;
              return (
                <div key={p} className="radio">
                  <input
                    type="checkbox"
                    id={id}
                    name="permissions"
                    value={p}
                    defaultChecked={role?.permissions.includes(p)}
                    disabled={!held.has(p)}
                  />
                  <label htmlFor={id}>
                    {all.permission_descriptions[p] ?? p} <code>{p}</code>
                    {!held.has(p) && ' (you do not hold it)'}
                  </label>
                </div>
              );
            })}
          </div>
        </fieldset>
      ))}
      <button type="submit">{role ? `Save ${role.name}` : 'Create role'}</button>
      {role && (
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      )}
    </form>
  );
}

export function Roles() {
  const { can } = useSession();
  const list = useLoad(() => api<RoleList>('GET', '/v1/roles'), []);
  const action = useAction(list.reload);
  const [editing, setEditing] = useState<Role | null>(null);
  // A new key empties the form after a role is made.
  const [made, setMade] = useState(0);
  const manage = can('roles:manage');

  function create(body: { name: string }) {
    void action
      .run(() => api('POST', '/v1/roles', { body }), `${body.name} created.`)
      .then((ok) => ok && setMade((n) => n + 1));
  }
  function update(role: Role, body: { name: string }) {
    void action
      .run(() => api('PATCH', `/v1/roles/${role.id}`, { body }), `${body.name} saved.`)
      .then((ok) => ok && setEditing(null));
  }
  function remove(role: Role) {
    if (!window.confirm(`Delete the role ${role.name}?`)) return;
    void action.run(() => api('DELETE', `/v1/roles/${role.id}`), `${role.name} deleted.`);
  }

  return (
    <>
      <PageTitle>Roles</PageTitle>
      <p>
        Built-in roles cannot be changed; make a custom role for anything else. A change reaches the
        role&apos;s users and their API keys at once.
      </p>
      <ErrorText error={list.error ?? action.error} />
      {action.done && <Status>{action.done}</Status>}
      {list.data && (
        <Table
          caption="Roles and their permissions"
          rows={list.data.data}
          columns={[
            [
              'Role',
              (r) => (
                <>
                  {r.name}
                  {r.built_in && <span className="badge">built-in</span>}
                  {r.description && <span className="help"> {r.description}</span>}
                </>
              ),
            ],
            ['Permissions', (r) => r.permissions.join(', ')],
            ['Users', (r) => r.users],
            [
              'Actions',
              (r) =>
                manage && !r.built_in ? (
                  <>
                    <button type="button" className="secondary" onClick={() => setEditing(r)}>
                      Edit {r.name}
                    </button>
                    <button type="button" className="danger" onClick={() => remove(r)}>
                      Delete {r.name}
                    </button>
                  </>
                ) : (
                  '—'
                ),
            ],
          ]}
        />
      )}
      {manage && list.data && (
        <RoleForm
          key={editing?.id ?? `new-${made}`}
          role={editing}
          all={list.data}
          onSave={(body) => (editing ? update(editing, body) : create(body))}
          onCancel={() => setEditing(null)}
        />
      )}
    </>
  );
}
