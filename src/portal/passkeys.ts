import { randomUUID } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import {
  accountLocked,
  findAccount,
  judgeSignIn,
  type PortalAccount,
  refusedWhileLocked,
  type SignInOutcome,
} from './accounts.ts';
import type { PortalRecipient } from './store.ts';
import { type PortalDeps, recipientActor } from './types.ts';

// Passkeys (WebAuthn) on portal accounts: phishing-resistant, bound to the portal's own host. The
// relying party is the host of the public URL and the only origin accepted is its origin. Each
// ceremony's challenge is kept server-side for one recipient and one purpose, expires in five
// minutes, and is deleted by the answer that uses it.

const CHALLENGE_MS = 5 * 60_000;
const MAX_PASSKEYS = 10;

type Purpose = 'register' | 'sign_in';

export function relyingParty(publicUrl: string): { rpID: string; origin: string } {
  const url = new URL(publicUrl);
  return { rpID: url.hostname, origin: url.origin };
}

interface Passkey {
  credentialId: string;
  publicKey: Uint8Array<ArrayBuffer>;
  counter: number;
  transports: string[];
}

async function passkeysOf(deps: PortalDeps, account: PortalAccount): Promise<Passkey[]> {
  const { rows } = await deps.db.query<{
    credential_id: string;
    public_key: Uint8Array;
    counter: string | number;
    transports: string[];
  }>(
    `SELECT credential_id, public_key, counter, transports FROM portal_passkeys
     WHERE org_id = $1 AND account_id = $2 ORDER BY created_at`,
    [account.orgId, account.accountId],
  );
  return rows.map((r) => ({
    credentialId: r.credential_id,
    publicKey: new Uint8Array(r.public_key),
    counter: Number(r.counter),
    transports: r.transports ?? [],
  }));
}

export async function passkeyCount(deps: PortalDeps, account: PortalAccount): Promise<number> {
  return (await passkeysOf(deps, account)).length;
}

async function keepChallenge(deps: PortalDeps, p: PortalRecipient, purpose: Purpose, challenge: string) {
  const now = deps.clock();
  await deps.db.transaction(async (tx) => {
    // One open ceremony per recipient and purpose: a new one replaces the last.
    await tx.query(
      `DELETE FROM portal_webauthn_challenges
       WHERE org_id = $1 AND recipient_id = $2 AND (purpose = $3 OR expires_at <= $4)`,
      [p.orgId, p.recipientId, purpose, now],
    );
    await tx.query(
      `INSERT INTO portal_webauthn_challenges (org_id, challenge_id, recipient_id, purpose, challenge, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [p.orgId, randomUUID(), p.recipientId, purpose, challenge, new Date(now.getTime() + CHALLENGE_MS)],
    );
  });
}

/** The challenge the answer signed, if it is this recipient's, unexpired and unused: then used up. */
async function claimChallenge(
  deps: PortalDeps,
  p: PortalRecipient,
  purpose: Purpose,
  response: { response: { clientDataJSON: string } },
): Promise<string | null> {
  let challenge: unknown;
  try {
    challenge = JSON.parse(
      Buffer.from(response.response.clientDataJSON, 'base64url').toString('utf8'),
    ).challenge;
  } catch {
    return null;
  }
  if (typeof challenge !== 'string' || challenge.length > 200) return null;
  const { rows } = await deps.db.query(
    `DELETE FROM portal_webauthn_challenges
     WHERE org_id = $1 AND recipient_id = $2 AND purpose = $3 AND challenge = $4 AND expires_at > $5
     RETURNING 1`,
    [p.orgId, p.recipientId, purpose, challenge, deps.clock()],
  );
  return rows.length > 0 ? challenge : null;
}

/** What a browser posts back: JSON of the right shape, or null. */
export function parseCredential<T extends RegistrationResponseJSON | AuthenticationResponseJSON>(
  text: unknown,
): T | null {
  if (typeof text !== 'string' || text.length > 20_000) return null;
  try {
    const value = JSON.parse(text) as {
      id?: unknown;
      type?: unknown;
      response?: { clientDataJSON?: unknown };
    };
    return typeof value.id === 'string' &&
      value.type === 'public-key' &&
      typeof value.response?.clientDataJSON === 'string'
      ? (value as T)
      : null;
  } catch {
    return null;
  }
}

// --- Adding a passkey (signed in, with an account) ---------------------------------------------

export async function registrationOptions(
  deps: PortalDeps,
  p: PortalRecipient,
  account: PortalAccount,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const existing = await passkeysOf(deps, account);
  const options = await generateRegistrationOptions({
    rpName: p.orgName,
    rpID: relyingParty(deps.settings.publicUrl).rpID,
    // Shown by the recipient's own passkey manager, so they can tell their accounts apart.
    userName: `${p.address} (${p.orgName})`,
    userDisplayName: p.address,
    userID: new Uint8Array(Buffer.from(account.accountId.replace(/-/g, ''), 'hex')),
    attestationType: 'none',
    excludeCredentials: existing.map((k) => ({ id: k.credentialId, transports: k.transports })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    timeout: CHALLENGE_MS,
  });
  await keepChallenge(deps, p, 'register', options.challenge);
  return options;
}

export type AddOutcome = 'added' | 'expired' | 'refused';

export async function addPasskey(
  deps: PortalDeps,
  p: PortalRecipient,
  account: PortalAccount,
  response: RegistrationResponseJSON,
  request: { ip: string | null; requestId: string | null },
): Promise<AddOutcome> {
  const challenge = await claimChallenge(deps, p, 'register', response);
  if (!challenge) return 'expired';
  const { rpID, origin } = relyingParty(deps.settings.publicUrl);
  let verified;
  try {
    verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      requireUserVerification: true,
    });
  } catch (err) {
    deps.log.warn({ org_id: p.orgId, recipient_id: p.recipientId, err }, 'passkey registration refused');
    return 'refused';
  }
  if (!verified.verified) return 'refused';
  const { credential } = verified.registrationInfo;
  const now = deps.clock();
  return deps.db.transaction(async (tx) => {
    const { rows: counted } = await tx.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM portal_passkeys WHERE org_id = $1 AND account_id = $2',
      [p.orgId, account.accountId],
    );
    if (counted[0]!.n >= MAX_PASSKEYS) return 'refused' as const;
    const { rows } = await tx.query(
      `INSERT INTO portal_passkeys (org_id, credential_id, account_id, public_key, counter, transports, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1`,
      [
        p.orgId,
        credential.id,
        account.accountId,
        Buffer.from(credential.publicKey),
        credential.counter,
        credential.transports ?? [],
        now,
      ],
    );
    if (rows.length === 0) return 'refused' as const;
    await deps.stageAudit(tx, {
      orgId: p.orgId,
      actor: recipientActor(p.recipientId),
      ip: request.ip,
      requestId: request.requestId,
      action: 'portal.passkey_added',
      objectType: 'portal_account',
      objectId: account.accountId,
      outcome: 'success',
      details: { recipient_id: p.recipientId, passkeys: counted[0]!.n + 1 },
    });
    return 'added' as const;
  });
}

// --- Signing in with a passkey -----------------------------------------------------------------

/**
 * Options for this delivery's sign-in. They look the same whether or not the address has an
 * account: with none (or no passkey) the list of allowed credentials is simply empty.
 */
export async function authenticationOptions(
  deps: PortalDeps,
  p: PortalRecipient,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const account = await findAccount(deps.db, p.orgId, p.address);
  const passkeys = account ? await passkeysOf(deps, account) : [];
  const options = await generateAuthenticationOptions({
    rpID: relyingParty(deps.settings.publicUrl).rpID,
    allowCredentials: passkeys.map((k) => ({ id: k.credentialId, transports: k.transports })),
    userVerification: 'required',
    timeout: CHALLENGE_MS,
  });
  await keepChallenge(deps, p, 'sign_in', options.challenge);
  return options;
}

export type PasskeyOutcome = SignInOutcome | { ok: false; reason: 'expired' };

export async function checkPasskey(
  deps: PortalDeps,
  p: PortalRecipient,
  response: AuthenticationResponseJSON,
  request: { ip: string | null; requestId: string | null },
): Promise<PasskeyOutcome> {
  const challenge = await claimChallenge(deps, p, 'sign_in', response);
  if (!challenge) return { ok: false, reason: 'expired' };
  const account = await findAccount(deps.db, p.orgId, p.address);
  const now = deps.clock();
  if (accountLocked(account, now)) return refusedWhileLocked(deps, p, account!, 'passkey', request);
  // Only a passkey of this organisation's account for this very address opens this delivery.
  const passkey = account
    ? (await passkeysOf(deps, account)).find((k) => k.credentialId === response.id)
    : undefined;
  if (!account || !passkey) return judgeSignIn(deps, p, account, false, 'passkey', request);
  const { rpID, origin } = relyingParty(deps.settings.publicUrl);
  let verified;
  try {
    verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      credential: { id: passkey.credentialId, publicKey: passkey.publicKey, counter: passkey.counter },
      requireUserVerification: true,
    });
  } catch (err) {
    deps.log.warn({ org_id: p.orgId, recipient_id: p.recipientId, err }, 'passkey sign-in refused');
    return judgeSignIn(deps, p, account, false, 'passkey', request);
  }
  const outcome = await judgeSignIn(deps, p, account, verified.verified, 'passkey', request);
  if (!outcome.ok) return outcome;
  await deps.db.query(
    `UPDATE portal_passkeys SET counter = $3, last_used_at = $4 WHERE org_id = $1 AND credential_id = $2`,
    [p.orgId, passkey.credentialId, verified.authenticationInfo.newCounter, now],
  );
  return { ok: true, account };
}
