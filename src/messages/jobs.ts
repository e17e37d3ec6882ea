import type { Priority } from './types.ts';

/** The queue SecureLine's workers take deliveries from: one job per recipient. */
export const DELIVERY_QUEUE = 'secureline.deliver';

export interface DeliveryJob {
  org_id: string;
  recipient_id: string;
}

/** Queue priorities: transactional mail passes bulk mail that waits. */
export const PRIORITY: Record<Priority, number> = { transactional: 10, bulk: 0 };
