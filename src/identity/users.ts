import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { normalisePassword } from '../passwords/index.ts';
import { roleExists } from './roles.ts';

export interface User {
  id: string;
  email: string;
  display_name: string | null;
  role: string;
  status: 'active' | 'disabled';
  created_at: Date;
  last_login_at: Date | null;
}

const COLUMNS = 'user_id AS id, email, display_name, role, status, created_at, last_login_at';
const EMAIL = /^[^\s@]+@[^\s@]+$/;

/** argon2id with the library's defaults (RFC 9106's second recommended setting). */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(normalisePassword(password), { type: argon2.argon2id });
}

export function verifyPassword(hash: string, password: string): Promise<boolean> {
  return argon2.verify(hash, normalisePassword(password)).catch(() => false);
}

/** A password for a first sign-in: 24 characters from a 64-symbol alphabet (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

export async function createUser(
  q: Queryable,
  orgId: string,
  input: { email: string; role: string; displayName?: string; password?: string },
): Promise<User> {
  if (!EMAIL.test(input.email)) throw errors.validation('The email address is not valid.');
  if (!(await roleExists(q, orgId, input.role))) throw errors.validation(`Unknown role "${input.role}".`);
  const passwordHash = input.password ? await hashPassword(input.password) : null;
  const { rows } = await q.query<User & Record<string, unknown>>(
    `INSERT INTO users (org_id, email, display_name, password_hash, role) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (org_id, lower(email)) DO NOTHING RETURNING ${COLUMNS}`,
    [orgId, input.email, input.displayName ?? null, passwordHash, input.role],
  );
  if (!rows[0]) throw errors.conflict('user_exists', 'A user with this email address already exists.');
  return rows[0];
}

export async function listUsers(q: Queryable, orgId: string): Promise<User[]> {
  const { rows } = await q.query<User & Record<string, unknown>>(
    // Deleted users stay as tombstones for the audit trail (src/identity/lifecycle.ts), not as users.
    `SELECT ${COLUMNS} FROM users WHERE org_id = $1 AND status <> 'deleted' ORDER BY created_at, user_id`,
    [orgId],
  );
  return rows;
}
