import type { AuditInput } from '../audit/index.ts';
import type { Queryable } from '../db/index.ts';

// What the engagement routes know of a recipient from a verified link, and the events they write.

export interface LinkedRecipient {
  orgId: string;
  recipientId: string;
  messageId: string;
  address: string;
}

export async function linkedRecipient(
  q: Queryable,
  orgId: string,
  recipientId: string,
): Promise<LinkedRecipient | null> {
  const { rows } = await q.query<{ message_id: string; address: string }>(
    'SELECT message_id, address FROM message_recipients WHERE org_id = $1 AND recipient_id = $2',
    [orgId, recipientId],
  );
  return rows[0] ? { orgId, recipientId, messageId: rows[0].message_id, address: rows[0].address } : null;
}

export function engagementEvent(
  r: LinkedRecipient,
  action: string,
  details: Record<string, string | number | boolean>,
  ip: string,
): AuditInput {
  return {
    orgId: r.orgId,
    // The recipient, as far as anyone can tell: a link scanner follows links too.
    actor: { type: 'recipient', id: r.recipientId, label: 'recipient' },
    ip,
    action,
    objectType: 'message',
    objectId: r.messageId,
    outcome: 'success',
    details: { recipient_id: r.recipientId, ...details },
  };
}
