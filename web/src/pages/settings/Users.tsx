// Staff users: invite by email with a role, follow and revoke invitations, give someone another role,
// disable, enable or delete them, and download the access review. Changes need users:manage and,
// for most, a recent sign-in (the API asks; the reauth dialog answers).
import { type FormEvent, useState } from 'react';
import { api, download } from '../../api.ts';
import { useReauth } from '../../reauth.tsx';
import { useSession } from '../../session.tsx';
import { ErrorText, PageTitle, Status, useLoad, when } from '../../ui.tsx';
import { type Role, roleLabel, saveFile, Table, useAction } from './parts.tsx';

interface User {
  id: string;
  email: string;
  display_name: string | null;
  role: string;
  status: string;
  last_login_at: string | null;
}
interface Invitation {
  id: string;
  email: string;
  role: string;
  status: string;
  created_at: string;
  expires_at: string;
  accepted_at: string | null;
}

function RoleSelect({ id, roles, value }: { id: string; roles: Role[]; value?: string }) {
  // No role is chosen for the person: the first in the list is the owner.
  return (
    <select id={id} name="role" defaultValue={value ?? ''} required>
      {!value && (
        <option value="" disabled>
          Choose a role
        </option>
      )}
      {roles.map((r) => (
        <option key={r.id} value={r.id}>
          {r.name}
        </option>
      ))}
    </select>
  );
}

export function Users() {
  const { can, session } = useSession();
  const reauth = useReauth();
  const users = useLoad(() => api<{ data: User[] }>('GET', '/v1/users'), []);
  const invitations = useLoad(() => api<{ data: Invitation[] }>('GET', '/v1/invitations'), []);
  const roles = useLoad(
    async () => (can('roles:read') ? (await api<{ data: Role[] }>('GET', '/v1/roles')).data : undefined),
    [can],
  );
  const action = useAction(async () => {
    await Promise.all([users.reload(), invitations.reload()]);
  });
  const [review, setReview] = useState<string | null>(null);
  const manage = can('users:manage');
  // Only roles one holds every permission of can be given (the API refuses the others).
  const held = new Set(session?.permissions);
  const givable = (roles.data ?? []).filter((r) => r.permissions.every((p) => held.has(p)));

  function invite(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const email = (data.get('email') as string).trim();
    void action.run(
      () =>
        api('POST', '/v1/invitations', { body: { email, role: data.get('role') } }).then(() => form.reset()),
      `Invitation sent to ${email}.`,
    );
  }

  function changeRole(user: User, event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const role = new FormData(event.currentTarget).get('role') as string;
    void action.run(
      () => api('PUT', `/v1/users/${user.id}/role`, { body: { role } }),
      `${user.email} is now ${roleLabel(roles.data, role)}; their sessions ended.`,
    );
  }

  function lifecycle(user: User, verb: 'disable' | 'enable' | 'delete') {
    if (verb === 'delete' && !window.confirm(`Delete ${user.email}? Their history stays in the audit trail.`))
      return;
    const call =
      verb === 'delete'
        ? () => api('DELETE', `/v1/users/${user.id}`)
        : () => api('POST', `/v1/users/${user.id}/${verb}`);
    void action.run(call, `${user.email} ${verb}d.`);
  }

  async function downloadReview() {
    setReview(null);
    action.setError(null);
    try {
      const { blob, filename } = await reauth(() => download('/v1/users/access-review?format=csv'));
      saveFile(blob, filename);
      setReview(`${filename} downloaded.`);
    } catch (err) {
      action.setError((err as Error).message);
    }
  }

  // Oneself and people whose role grants more than one holds are out of reach (the API says so too).
  const others = (u: User) =>
    manage && u.id !== session?.user.id && u.status !== 'deleted' && givable.some((r) => r.id === u.role);
  return (
    <>
      <PageTitle>Users</PageTitle>
      <ErrorText error={users.error ?? invitations.error ?? roles.error ?? action.error} />
      {action.done && <Status>{action.done}</Status>}
      {review && <Status>{review}</Status>}
      {users.data && (
        <Table
          caption="Users"
          rows={users.data.data}
          columns={[
            ['Email', (u) => u.email],
            [
              'Role',
              (u) =>
                others(u) && roles.data ? (
                  <form key={u.role} className="inline" onSubmit={(e) => changeRole(u, e)}>
                    <label htmlFor={`role-${u.id}`} className="visually-hidden">
                      Role of {u.email}
                    </label>
                    <RoleSelect id={`role-${u.id}`} roles={givable} value={u.role} />
                    <button type="submit" className="secondary">
                      Change role of {u.email}
                    </button>
                  </form>
                ) : (
                  roleLabel(roles.data, u.role)
                ),
            ],
            ['Status', (u) => u.status],
            ['Last sign-in', (u) => when(u.last_login_at)],
            [
              'Actions',
              (u) =>
                others(u) ? (
                  <>
                    {u.status === 'active' ? (
                      <button type="button" className="secondary" onClick={() => lifecycle(u, 'disable')}>
                        Disable {u.email}
                      </button>
                    ) : (
                      <button type="button" className="secondary" onClick={() => lifecycle(u, 'enable')}>
                        Enable {u.email}
                      </button>
                    )}
                    <button type="button" className="danger" onClick={() => lifecycle(u, 'delete')}>
                      Delete {u.email}
                    </button>
                  </>
                ) : (
                  '—'
                ),
            ],
          ]}
        />
      )}
      <button type="button" className="secondary" onClick={() => void downloadReview()}>
        Download the access review (CSV)
      </button>

      {manage && roles.data && (
        <form onSubmit={invite}>
          <h2>Invite someone</h2>
          <p className="help">
            They get a link by mail, valid for 7 days, to set their password. It is sent from the first
            verified sending domain.
          </p>
          <label htmlFor="invite-email">Email address</label>
          <input id="invite-email" name="email" type="email" required maxLength={320} autoComplete="off" />
          <label htmlFor="invite-role">Role</label>
          <RoleSelect id="invite-role" roles={givable} />
          <div>
            <button type="submit">Send invitation</button>
          </div>
        </form>
      )}

      <h2>Invitations</h2>
      {invitations.data && (
        <Table
          caption="Invitations, newest first"
          rows={invitations.data.data}
          columns={[
            ['Email', (i) => i.email],
            ['Role', (i) => roleLabel(roles.data, i.role)],
            ['Status', (i) => i.status],
            ['Sent', (i) => when(i.created_at)],
            ['Expires', (i) => when(i.expires_at)],
            [
              'Actions',
              (i) =>
                manage && i.status === 'pending' ? (
                  <button
                    type="button"
                    className="danger"
                    onClick={() =>
                      void action.run(
                        () => api('DELETE', `/v1/invitations/${i.id}`),
                        `Invitation to ${i.email} revoked.`,
                      )
                    }
                  >
                    Revoke invitation to {i.email}
                  </button>
                ) : (
                  '—'
                ),
            ],
          ]}
        />
      )}
    </>
  );
}
