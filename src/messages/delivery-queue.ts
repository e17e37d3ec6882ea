import type { Priority } from './types.ts';

// Each recipient of an accepted message waits in the delivery queue, which is its own row in
// message_recipients (due_at, priority; claimed by SecureLine's workers, see
// src/secureline/queue.ts).

/** Notified (on commit) when recipients are queued, so idle workers claim them at once. */
export const DELIVERY_CHANNEL = 'sealpost_delivery';

/** Queue priorities: transactional mail passes bulk mail that waits. */
export const PRIORITY: Record<Priority, number> = { transactional: 10, bulk: 0 };
