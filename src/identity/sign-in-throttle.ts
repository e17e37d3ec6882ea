import { createHash } from 'node:crypto';
import { SYSTEM_ORG_ID } from '../audit/index.ts';
import type { Queryable } from '../db/index.ts';
import { clientSource } from '../http/index.ts';
import { originHash } from './access.ts';
import type { ClientInfo } from './staff-auth.ts';

// Failed staff sign-ins slow whoever fails, and lock nobody out (NIST SP 800-63B: limit failed
// attempts on an account, preferring growing waits to a lock that anyone who knows an address
// could keep shut). Three counts, kept system-wide under hashes (an address may have accounts in
// several organisations or none, and the answers must not tell which):
//
// - per account and client network (an IPv6 address by its /64): from the PAIR_WAIT_AFTER-th
//   failure a wait of 1 s, doubling up to PAIR_MAX_WAIT_S. One source's guesses at one account
//   slow that source only.
// - per account, from any network: from the ACCOUNT_WAIT_AFTER-th failure, a wait doubling up to
//   ACCOUNT_MAX_WAIT_S. The ceiling that holds a crowd of sources to about one guess a minute. A
//   password try from where the person signed in before (their device cookie, or the address) is
//   let through it: a crowd failing on purpose slows strangers, not the person.
// - per client network, across accounts (password spraying): from the NETWORK_WAIT_AFTER-th
//   failure, up to NETWORK_MAX_WAIT_S.
//
// A count is forgotten an hour after its last failure; a success forgets the account's and that
// source's counts.

export const PAIR_WAIT_AFTER = 3;
export const PAIR_MAX_WAIT_S = 300;
export const ACCOUNT_WAIT_AFTER = 10;
export const ACCOUNT_MAX_WAIT_S = 60;
export const NETWORK_WAIT_AFTER = 20;
export const NETWORK_MAX_WAIT_S = 60;
const FORGET_MS = 60 * 60_000;

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/** The network a client address stands for: an IPv4 address itself, an IPv6 address its /64. */
function clientNetwork(ip: string | null): string {
  return ip ? clientSource(ip) : 'unknown';
}

interface Subjects {
  pair: Buffer;
  account: Buffer;
  network: Buffer;
}

function subjectsOf(email: string, ip: string | null): Subjects {
  const account = email.trim().toLowerCase();
  const network = clientNetwork(ip);
  return {
    pair: sha256(`pair:${account}\n${network}`),
    account: sha256(`account:${account}`),
    network: sha256(`network:${network}`),
  };
}

const waitMs = (failures: number, after: number, maxSeconds: number) =>
  failures < after ? 0 : Math.min(2 ** (failures - after), maxSeconds) * 1000;

export class SignInThrottle {
  private readonly db: Queryable;
  private readonly clock: () => Date;

  constructor(deps: { db: Queryable; clock: () => Date }) {
    this.db = deps.db;
    this.clock = deps.clock;
  }

  /**
   * Seconds still to wait before this try, or 0. `accounts` are the accounts the try is for, whose
   * earlier sign-ins make a source familiar; none for a second factor, which the account's ceiling
   * always holds (whoever reaches it knows the password).
   */
  async wait(
    email: string,
    client: ClientInfo,
    accounts: readonly { org_id: string; user_id: string }[],
  ): Promise<number> {
    const subjects = subjectsOf(email, client.ip);
    const now = this.clock().getTime();
    const { rows } = await this.db.query<{ subject: Buffer; failures: number; last_failure: Date }>(
      'SELECT subject, failures, last_failure FROM auth_throttle WHERE org_id = $1 AND subject = ANY($2::bytea[])',
      [SYSTEM_ORG_ID, [subjects.pair, subjects.account, subjects.network]],
    );
    let longest = 0;
    for (const row of rows) {
      const last = row.last_failure.getTime();
      if (now - last > FORGET_MS) continue;
      const subject = Buffer.from(row.subject);
      let ms: number;
      if (subject.equals(subjects.pair)) ms = waitMs(row.failures, PAIR_WAIT_AFTER, PAIR_MAX_WAIT_S);
      else if (subject.equals(subjects.network))
        ms = waitMs(row.failures, NETWORK_WAIT_AFTER, NETWORK_MAX_WAIT_S);
      else {
        ms = waitMs(row.failures, ACCOUNT_WAIT_AFTER, ACCOUNT_MAX_WAIT_S);
        if (ms > 0 && last + ms > now && (await this.familiar(client, accounts))) ms = 0;
      }
      longest = Math.max(longest, last + ms - now);
    }
    return Math.ceil(longest / 1000);
  }

  /** Whether one of the accounts signed in before from this device or address. */
  private async familiar(
    client: ClientInfo,
    accounts: readonly { org_id: string; user_id: string }[],
  ): Promise<boolean> {
    if (accounts.length === 0) return false;
    const origins = [originHash('address', client.ip ?? '')];
    if (client.deviceId) origins.push(originHash('device', client.deviceId));
    const { rows } = await this.db.query(
      `SELECT 1 FROM staff_sign_in_origins o
       JOIN unnest($1::uuid[], $2::uuid[]) AS a (org_id, user_id) ON o.org_id = a.org_id AND o.user_id = a.user_id
       WHERE o.value_hash = ANY($3::bytea[]) LIMIT 1`,
      [accounts.map((a) => a.org_id), accounts.map((a) => a.user_id), origins],
    );
    return rows.length > 0;
  }

  /** Counts a failure; true when it brought the account to its ceiling just now. */
  async failed(email: string, client: ClientInfo): Promise<boolean> {
    const { pair, account, network } = subjectsOf(email, client.ip);
    const now = this.clock();
    const { rows } = await this.db.query<{ subject: Buffer; failures: number }>(
      `INSERT INTO auth_throttle (org_id, subject, account, failures, last_failure)
       VALUES ($1, $2, $3, 1, $4), ($1, $3, $3, 1, $4), ($1, $5, NULL, 1, $4)
       ON CONFLICT (org_id, subject) DO UPDATE SET
         failures = CASE WHEN auth_throttle.last_failure < $6 THEN 1 ELSE auth_throttle.failures + 1 END,
         last_failure = $4
       RETURNING subject, failures`,
      [SYSTEM_ORG_ID, pair, account, now, network, new Date(now.getTime() - FORGET_MS)],
    );
    const counted = rows.find((r) => Buffer.from(r.subject).equals(account));
    return counted?.failures === ACCOUNT_WAIT_AFTER;
  }

  /** A try that succeeded: the account's count and this source's are forgotten. */
  async succeeded(email: string, client: ClientInfo): Promise<void> {
    const { pair, account } = subjectsOf(email, client.ip);
    await this.db.query('DELETE FROM auth_throttle WHERE org_id = $1 AND subject = ANY($2::bytea[])', [
      SYSTEM_ORG_ID,
      [pair, account],
    ]);
  }

  /** An administrator's reset: every count of the account, from every source. */
  async forget(q: Queryable, email: string): Promise<boolean> {
    const { rowCount } = await q.query('DELETE FROM auth_throttle WHERE org_id = $1 AND account = $2', [
      SYSTEM_ORG_ID,
      subjectsOf(email, null).account,
    ]);
    return rowCount > 0;
  }
}
