import type { Queryable } from '../db/index.ts';
import { SealpostError } from '../errors/index.ts';
import { problemOf } from '../http/index.ts';
import { chooseMethod, loadPolicy } from '../secureline/policy.ts';
import { recipientPreference } from '../secureline/preferences.ts';
import { checkSendable, dlpOf } from './submit.ts';
import type { MessageRequest } from './types.ts';
import { validateMessage } from './validate.ts';

/** Finds the valid encryption keys known for an address (recipient keys, later WKD). */
export type KeyLookup = (
  q: Queryable,
  orgId: string,
  address: string,
  now: Date,
) => Promise<{
  pgp: { fingerprint: string; source?: 'uploaded' | 'wkd' }[];
  smime: { fingerprint: string }[];
}>;

/**
 * What SecureLine would do with this message now, without storing or sending anything. TLS is
 * only known at the SMTP conversation, so a TLS choice names its fallback.
 */
export async function previewMessage(
  deps: { db: Queryable; findKeys: KeyLookup; maxBytes: number },
  orgId: string,
  request: MessageRequest,
  now: Date,
) {
  const content = validateMessage(request, deps.maxBytes);
  let problem = null;
  try {
    await checkSendable(deps.db, orgId, content);
  } catch (err) {
    if (!(err instanceof SealpostError)) throw err;
    problem = problemOf(err);
  }
  const dlp = dlpOf(content);
  const policy = await loadPolicy(deps.db, orgId);
  // Looked up side by side: an unanswered Web Key Directory costs its timeout once, not per recipient.
  const all = (['to', 'cc', 'bcc'] as const).flatMap((kind) =>
    content[kind].map((m) => ({ kind, address: m.address })),
  );
  const recipients = await Promise.all(
    all.map(async ({ kind, address }) => {
      const [keys, preference] = await Promise.all([
        deps.findKeys(deps.db, orgId, address, now),
        recipientPreference(deps.db, orgId, address),
      ]);
      const choice = chooseMethod({
        protection: request.protection ?? 'auto',
        recipientPreference: preference,
        mayHoldPhi: dlp.phi || dlp.skipped_attachments > 0,
        pgpKeys: keys.pgp,
        smimeCertificates: keys.smime,
        policy,
      });
      return {
        address,
        kind,
        method: choice.method,
        tls: choice.tls ?? null,
        reason: choice.reason,
        fallback:
          choice.tls === 'enforced'
            ? "the portal, if the recipient's mail server cannot do TLS 1.2+ with a valid certificate"
            : null,
      };
    }),
  );
  return { sendable: problem === null, problem, dlp, recipients };
}
