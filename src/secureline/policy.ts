import type { Queryable } from '../db/index.ts';
import type { Method, Protection } from '../messages/types.ts';
// The portal's leaf module, not its index: the portal's own imports reach this file (through
// messages/preview.ts) while portal/index.ts is still loading.
import { KNOWN_UPLOAD_TYPES, type UploadType } from '../portal/uploads.ts';

// SecureLine's choice for one recipient, made at delivery time. Pure: everything it weighs is
// handed in, so every branch is tested on its own.

export interface SecurelinePolicy {
  /** Whether enforced TLS alone protects a message with PHI well enough (many covered entities say yes). */
  tls_for_phi: boolean;
  /** Whether a message with no PHI found may go over TLS that is not verified (or no TLS). */
  opportunistic_tls_without_phi: boolean;
  smime_algorithm: 'aes-256-gcm' | 'aes-256-cbc';
  /** Replace the subject outside the encryption (PGP, S/MIME) with a neutral one. */
  hide_subject: boolean;
  portal_expiry_days: number | null;
  /** How portal recipients prove who they are, unless the message says. */
  portal_verification: 'email' | 'sms' | 'passphrase';
  /** Who a reply written in the portal reaches, unless the message says. */
  portal_replies: 'none' | 'sender' | 'all';
  /** The portal notice may carry the subject when DLP found no PHI in it. */
  notice_subject: boolean;
  /** Where a recipient's new message from the portal goes; null: recipients can only reply. */
  portal_inbox: string | null;
  /** The types of file recipients may attach in the portal, judged from their content. */
  portal_upload_types: UploadType[];
}

export const DEFAULT_POLICY: SecurelinePolicy = {
  tls_for_phi: true,
  opportunistic_tls_without_phi: false,
  smime_algorithm: 'aes-256-gcm',
  hide_subject: true,
  portal_expiry_days: null,
  portal_verification: 'email',
  portal_replies: 'sender',
  notice_subject: false,
  portal_inbox: null,
  portal_upload_types: [...KNOWN_UPLOAD_TYPES],
};

export async function loadPolicy(q: Queryable, orgId: string): Promise<SecurelinePolicy> {
  const { rows } = await q.query<SecurelinePolicy & { [k: string]: unknown }>(
    `SELECT tls_for_phi, opportunistic_tls_without_phi, smime_algorithm, hide_subject, portal_expiry_days,
       portal_verification, portal_replies, notice_subject, portal_inbox, portal_upload_types
     FROM secureline_policies WHERE org_id = $1`,
    [orgId],
  );
  return rows[0] ?? DEFAULT_POLICY;
}

export interface ChoiceInput {
  protection: Protection;
  /** What the recipient asked for, if anything; it weighs like the message's protection. */
  recipientPreference?: 'portal' | 'e2e' | null;
  /** DLP found PHI, or could not read an attachment (which then may hold PHI). */
  mayHoldPhi: boolean;
  pgpKeys: { fingerprint: string; source?: 'uploaded' | 'wkd' }[];
  smimeCertificates: { fingerprint: string }[];
  policy: SecurelinePolicy;
  /** Why enforced TLS already failed for this recipient, if it did. */
  tlsFailure?: string;
}

export interface Choice {
  method: Method;
  /** For 'tls': whether the TLS must be verified (enforced) or may be opportunistic. */
  tls?: 'enforced' | 'opportunistic';
  reason: string;
}

export function chooseMethod(input: ChoiceInput): Choice {
  const { policy } = input;
  if (input.protection === 'portal') return { method: 'portal', reason: 'the sender asked for the portal' };
  if (input.recipientPreference === 'portal')
    return { method: 'portal', reason: 'the recipient asked to read in the portal' };
  const pgp = input.pgpKeys[0];
  if (pgp)
    return {
      method: 'pgp',
      reason:
        pgp.source === 'wkd'
          ? `a valid OpenPGP key is published in the recipient's Web Key Directory (${pgp.fingerprint})`
          : `a valid OpenPGP key is on file (${pgp.fingerprint})`,
    };
  const smime = input.smimeCertificates[0];
  if (smime)
    return { method: 'smime', reason: `a valid S/MIME certificate is on file (${smime.fingerprint})` };
  if (input.protection === 'e2e')
    return {
      method: 'portal',
      reason: 'end-to-end encryption was required and no key is known for the recipient',
    };
  if (input.recipientPreference === 'e2e')
    return {
      method: 'portal',
      reason: 'the recipient accepts only end-to-end encryption and no key is known for them',
    };
  if (input.tlsFailure) return { method: 'portal', reason: `enforced TLS failed: ${input.tlsFailure}` };
  if (!input.mayHoldPhi && policy.opportunistic_tls_without_phi)
    return {
      method: 'tls',
      tls: 'opportunistic',
      reason: 'no PHI found and policy allows opportunistic TLS for it',
    };
  if (input.mayHoldPhi && !policy.tls_for_phi)
    return {
      method: 'portal',
      reason: 'the message may hold PHI and policy does not accept TLS alone for PHI',
    };
  return {
    method: 'tls',
    tls: 'enforced',
    reason: input.mayHoldPhi
      ? 'policy accepts enforced TLS for PHI; TLS 1.2+ with a verified certificate is required'
      : 'no PHI found; TLS 1.2+ with a verified certificate is required',
  };
}
