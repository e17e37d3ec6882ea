import type { Queryable } from '../db/index.ts';
import type { Brand } from './letters.ts';

// What recipients see of the sending organisation: its display name, colour and logo.

export interface Branding {
  [k: string]: unknown;
  display_name: string | null;
  color: string | null;
  logo: Buffer | null;
  logo_type: string | null;
}

export async function loadBranding(q: Queryable, orgId: string): Promise<Branding & { org_name: string }> {
  const { rows } = await q.query<Branding & { org_name: string }>(
    `SELECT o.name AS org_name, b.display_name, b.color, b.logo, b.logo_type
     FROM organizations o LEFT JOIN org_branding b ON b.org_id = o.org_id WHERE o.org_id = $1`,
    [orgId],
  );
  return rows[0] ?? { org_name: 'Sealpost', display_name: null, color: null, logo: null, logo_type: null };
}

/** The brand for mail about one portal delivery (its logo is served under the delivery's link). */
export async function brandFor(q: Queryable, orgId: string, link: string): Promise<Brand> {
  const { rows } = await q.query<{ name: string; color: string | null; has_logo: boolean }>(
    `SELECT coalesce(b.display_name, o.name) AS name, b.color, coalesce(b.logo IS NOT NULL, false) AS has_logo
     FROM organizations o LEFT JOIN org_branding b ON b.org_id = o.org_id WHERE o.org_id = $1`,
    [orgId],
  );
  const row = rows[0] ?? { name: 'Sealpost', color: null, has_logo: false };
  return { name: row.name, color: row.color, logoUrl: row.has_logo ? `${link}/logo` : null };
}
