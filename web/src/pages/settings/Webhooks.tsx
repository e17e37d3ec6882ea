// Webhooks: endpoints with their health and delivery log; add one (its signing secret is shown
// once), change it, enable it again, send it a test event, remove it.
import { type FormEvent, type ReactNode, useState } from 'react';
import { api } from '../../api.ts';
import { useSession } from '../../session.tsx';
import { ErrorText, PageTitle, Status, useLoad, when } from '../../ui.tsx';
import { lines, Table, useAction } from './parts.tsx';

interface Endpoint {
  id: string;
  url: string;
  description: string;
  event_types: string[] | null;
  include_phi: boolean;
  enabled: boolean;
  disabled_reason: string | null;
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

function EndpointForm({
  endpoint,
  types,
  onSave,
  onCancel,
}: {
  endpoint: Endpoint | null;
  /** Every event type with what it means; undefined when they cannot be read (messages:read). */
  types: { type: string; description: string }[] | undefined;
  onSave(body: Record<string, unknown>): Promise<boolean>;
  onCancel(): void;
}) {
  const prefix = endpoint ? `edit-${endpoint.id}` : 'new-hook';
  const [every, setEvery] = useState(!endpoint?.event_types);
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const target = event.currentTarget;
    const form = new FormData(target);
    const chosen = types
      ? (form.getAll('event_types') as string[])
      : lines((form.get('event_types') as string) ?? '');
    const body: Record<string, unknown> = {
      url: (form.get('url') as string).trim(),
      description: (form.get('description') as string).trim(),
      include_phi: form.get('include_phi') === 'on',
      event_types: every ? null : chosen,
    };
    if (endpoint) body.enabled = form.get('enabled') === 'on';
    void onSave(body).then((ok) => {
      if (!ok || endpoint) return;
      target.reset();
      setEvery(true);
    });
  }
  return (
    <form onSubmit={submit} aria-labelledby={`${prefix}-title`}>
      <h2 id={`${prefix}-title`}>{endpoint ? `Change ${endpoint.url}` : 'New endpoint'}</h2>
      <label htmlFor={`${prefix}-url`}>URL (https://, on a public address)</label>
      <input
        id={`${prefix}-url`}
        name="url"
        type="url"
        required
        maxLength={2048}
        defaultValue={endpoint?.url}
      />
      <label htmlFor={`${prefix}-description`}>Description (optional)</label>
      <input
        id={`${prefix}-description`}
        name="description"
        maxLength={200}
        defaultValue={endpoint?.description}
      />
      <fieldset>
        <legend>Events</legend>
        <div className="radio">
          <input
            type="checkbox"
            id={`${prefix}-every`}
            checked={every}
            onChange={(e) => setEvery(e.currentTarget.checked)}
          />
          <label htmlFor={`${prefix}-every`}>Every event type, including those added later</label>
        </div>
        {!every &&
          (types ? (
            <div className="columns">
              {types.map((t) => (
                <div key={t.type} className="radio">
                  <input
                    type="checkbox"
                    id={`${prefix}-${t.type}`}
                    name="event_types"
                    value={t.type}
                    defaultChecked={endpoint?.event_types?.includes(t.type)}
                  />
                  <label htmlFor={`${prefix}-${t.type}`} title={t.description}>
                    {t.type}
                  </label>
                </div>
              ))}
            </div>
          ) : (
            <>
              <label htmlFor={`${prefix}-types`}>Event types, one per line (e.g. message.delivered)</label>
              <textarea
                id={`${prefix}-types`}
                name="event_types"
                rows={3}
                required
                defaultValue={endpoint?.event_types?.join('\n')}
              />
            </>
          ))}
      </fieldset>
      <div className="radio">
        <input
          type="checkbox"
          id={`${prefix}-phi`}
          name="include_phi"
          defaultChecked={endpoint?.include_phi ?? false}
        />
        <label htmlFor={`${prefix}-phi`}>
          Events carry the recipient&apos;s address (PHI): only for a receiver covered by your BAA
        </label>
      </div>
      {endpoint && (
        <div className="radio">
          <input type="checkbox" id={`${prefix}-enabled`} name="enabled" defaultChecked={endpoint.enabled} />
          <label htmlFor={`${prefix}-enabled`}>Enabled (deliveries still owed resume)</label>
        </div>
      )}
      <button type="submit">{endpoint ? 'Save endpoint' : 'Add endpoint'}</button>
      {endpoint && (
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      )}
    </form>
  );
}

export function Webhooks() {
  const { can } = useSession();
  const list = useLoad(() => api<{ data: Endpoint[] }>('GET', '/v1/webhooks'), []);
  const types = useLoad(
    async () =>
      can('messages:read')
        ? (await api<{ data: { type: string; description: string }[] }>('GET', '/v1/event-types')).data
        : undefined,
    [can],
  );
  const action = useAction(list.reload);
  const [open, setOpen] = useState<string | null>(null);
  const [editing, setEditing] = useState<Endpoint | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const attempts = useLoad(
    async () => (open ? api<{ data: HookAttempt[] }>('GET', `/v1/webhooks/${open}/attempts`) : null),
    [open],
  );
  const manage = can('webhooks:manage');

  const create = (body: Record<string, unknown>) =>
    action.run(async () => {
      const created = await api<{ secret: string }>('POST', '/v1/webhooks', { body });
      setSecret(created.secret);
    }, 'Endpoint added.');
  const update = (endpoint: Endpoint, body: Record<string, unknown>) =>
    action
      .run(() => api('PATCH', `/v1/webhooks/${endpoint.id}`, { body }), 'Endpoint saved.')
      .then((ok) => {
        if (ok) setEditing(null);
        return ok;
      });
  function remove(endpoint: Endpoint) {
    if (!window.confirm(`Remove ${endpoint.url}, with its delivery log?`)) return;
    if (open === endpoint.id) setOpen(null);
    void action.run(() => api('DELETE', `/v1/webhooks/${endpoint.id}`), `${endpoint.url} removed.`);
  }
  function test(endpoint: Endpoint) {
    setOpen(endpoint.id);
    void action
      .run(() => api('POST', `/v1/webhooks/${endpoint.id}/test`), `Test event sent to ${endpoint.url}.`)
      .then(() => attempts.reload());
  }

  const actions = (e: Endpoint): ReactNode => (
    <>
      <button type="button" className="secondary" onClick={() => setOpen(e.id)}>
        Delivery log of {e.url}
      </button>
      {manage && (
        <>
          <button type="button" className="secondary" onClick={() => setEditing(e)}>
            Change {e.url}
          </button>
          <button type="button" className="secondary" onClick={() => test(e)}>
            Send a test event to {e.url}
          </button>
          <button type="button" className="danger" onClick={() => remove(e)}>
            Remove {e.url}
          </button>
        </>
      )}
    </>
  );

  return (
    <>
      <PageTitle>Webhooks</PageTitle>
      <ErrorText error={list.error ?? attempts.error ?? types.error ?? action.error} />
      {action.done && <Status>{action.done}</Status>}
      {secret && (
        <p className="notice">
          The endpoint&apos;s signing secret, shown once: <code className="copy">{secret}</code>
        </p>
      )}
      {list.data && (
        <Table
          caption="Webhook endpoints"
          rows={list.data.data}
          columns={[
            ['URL', (e) => e.url + (e.description ? ` (${e.description})` : '')],
            ['Events', (e) => e.event_types?.join(', ') ?? 'every type'],
            [
              'State',
              (e) =>
                e.enabled
                  ? `enabled, ${e.consecutive_failures} failures since last success`
                  : `disabled${e.disabled_reason ? `: ${e.disabled_reason}` : ''}`,
            ],
            ['Last success', (e) => when(e.last_success_at)],
            ['Actions', actions],
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
      {manage && (
        <EndpointForm
          key={editing?.id ?? 'new'}
          endpoint={editing}
          types={types.data}
          onSave={(body) => (editing ? update(editing, body) : create(body))}
          onCancel={() => setEditing(null)}
        />
      )}
    </>
  );
}
