import type { Queryable } from '../db/index.ts';
import { SealpostError } from '../errors/index.ts';
import { problemOf } from '../http/problem.ts';
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
) => Promise<{ pgp: { fingerprint: string }[]; smime: { fingerprint: string }[] }>;

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
  const recipients = [];
  for (const kind of ['to', 'cc', 'bcc'] as const) {
    for (const m of content[kind]) {
      const keys = await deps.findKeys(deps.db, orgId, m.address, now);
      const choice = chooseMethod({
        protection: request.protection ?? 'auto',
        recipientPreference: await recipientPreference(deps.db, orgId, m.address),
        mayHoldPhi: dlp.phi || dlp.skipped_attachments > 0,
        pgpKeys: keys.pgp,
        smimeCertificates: keys.smime,
        policy,
      });
      recipients.push({
        address: m.address,
        kind,
        method: choice.method,
        tls: choice.tls ?? null,
        reason: choice.reason,
        fallback:
          choice.tls === 'enforced'
            ? "the portal, if the recipient's mail server cannot do TLS 1.2+ with a valid certificate"
            : null,
      });
    }
  }
  return { sendable: problem === null, problem, dlp, recipients };
}
