import type { Db, Queryable } from '../db/index.ts';
import { SealpostError } from '../errors/index.ts';

// The mode the database was set up in. A process in the other mode refuses to start: a sandbox
// becomes a production instance (or back) only when someone says so (`sealpost mode`).

export type Mode = 'sandbox' | 'production';

const SYSTEM = '00000000-0000-0000-0000-000000000000';

export async function instanceMode(q: Queryable): Promise<Mode | null> {
  const { rows } = await q.query<{ value: Mode }>(
    "SELECT value FROM instance_settings WHERE org_id = $1 AND key = 'mode'",
    [SYSTEM],
  );
  return rows[0]?.value ?? null;
}

export async function setInstanceMode(q: Queryable, mode: Mode): Promise<void> {
  await q.query(
    `INSERT INTO instance_settings (org_id, key, value) VALUES ($1, 'mode', $2)
     ON CONFLICT (org_id, key) DO UPDATE SET value = $2, updated_at = now()`,
    [SYSTEM, mode],
  );
}

/** Records the mode on first start; afterwards, refuses a process in the other mode. */
export async function checkInstanceMode(db: Db, mode: Mode): Promise<void> {
  const recorded = await instanceMode(db);
  if (recorded === null) return setInstanceMode(db, mode);
  if (recorded === mode) return;
  throw new SealpostError(
    'mode_mismatch',
    recorded === 'sandbox'
      ? 'This database was set up in sandbox mode and SEALPOST_MODE is production. To deliver for real, switch it on purpose: sealpost mode production. Messages accepted in the sandbox stay captured, never sent.'
      : 'This database delivers for real (production) and SEALPOST_MODE is sandbox. Switch it on purpose: sealpost mode sandbox.',
  );
}
