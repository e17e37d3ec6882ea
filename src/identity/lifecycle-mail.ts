import { randomUUID } from 'node:crypto';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { formatDate, translator } from '../i18n/index.ts';
import type { Logger } from '../log/index.ts';
import { brandFor, composeLetter, escapeHtml, type Letter, type SystemMailOutcome } from '../portal/index.ts';
import type { JobQueue } from '../queue/index.ts';

// Mail to staff: invitations, break-glass alerts and new-device notices. It leaves the way the portal's system mail
// does (SecureLine's sendSystemMail: DKIM-signed, TLS when offered, captured in the sandbox), from
// no-reply@ the organisation's first verified sending domain. The API seals the letter (an
// invitation carries its token) into staff_mail_outbox and queues a job; a worker sends it and
// deletes the row, so the token lives on only as its hash. It is sent as staff mail: a copy kept
// of it (a sandbox capture) is shown only to those who manage users, with its secrets masked.

export const STAFF_MAIL_QUEUE = 'staff.mail';

export interface StaffMailJob {
  org_id: string;
  mail_id: string;
}

export type StaffMailPurpose = 'invitation' | 'break_glass_alert' | 'new_device';

/** A letter to staff, with the strings in it that grant access (an invitation's link), if any. */
export interface StaffLetter extends Letter {
  secrets: readonly string[];
}

/** What stands for a secret in a copy of staff mail that is kept. */
const MASKED = '[masked: a link that grants access]';

/** The letter as a kept copy may show it: each secret masked, in the subject, text and HTML. */
function maskSecrets(letter: Letter, secrets: readonly string[]): Letter {
  const mask = (value: string) =>
    secrets.reduce(
      (out, secret) => out.replaceAll(secret, MASKED).replaceAll(escapeHtml(secret), MASKED),
      value,
    );
  return { subject: mask(letter.subject), text: mask(letter.text), html: mask(letter.html) };
}

export interface SealedMail {
  mailId: string;
  sealed: Buffer;
}

const binding = (mailId: string) => ({ table: 'staff_mail_outbox', row: mailId });

/** The organisation's sending domain for staff mail, or null when it has none verified. */
export async function staffMailDomain(q: Queryable, orgId: string): Promise<string | null> {
  const { rows } = await q.query<{ domain: string }>(
    `SELECT domain FROM sending_domains WHERE org_id = $1 AND status = 'verified'
     ORDER BY verified_at NULLS LAST, created_at, domain LIMIT 1`,
    [orgId],
  );
  return rows[0]?.domain ?? null;
}

/** Seals a letter for the outbox. Outside any transaction: the keyring reads the database itself. */
export async function sealStaffMail(
  keyring: Keyring,
  orgId: string,
  to: string,
  letter: StaffLetter,
): Promise<SealedMail> {
  const mailId = randomUUID();
  const sealed = await keyring.seal(orgId, binding(mailId), JSON.stringify({ to, letter }));
  return { mailId, sealed };
}

/** Files sealed letters and queues their sending, in the caller's transaction. */
export async function queueStaffMail(
  tx: Queryable,
  queue: JobQueue,
  orgId: string,
  purpose: StaffMailPurpose,
  mails: SealedMail[],
  now: Date,
): Promise<void> {
  for (const mail of mails)
    await tx.query(
      `INSERT INTO staff_mail_outbox (org_id, mail_id, purpose, payload_sealed, created_at) VALUES ($1, $2, $3, $4, $5)`,
      [orgId, mail.mailId, purpose, mail.sealed, now],
    );
  await queue.sendMany(
    STAFF_MAIL_QUEUE,
    mails.map((m) => ({ data: { org_id: orgId, mail_id: m.mailId } satisfies StaffMailJob })),
    { tx },
  );
}

function page(body: string): string {
  return `<!doctype html><html lang="en"><body style="font-family:sans-serif;color:#1a1a1a;max-width:600px">
${body}
</body></html>`;
}

export function invitationLetter(input: {
  org: string;
  link: string;
  expiresAt: Date;
  role: string;
}): StaffLetter {
  const t = translator('en');
  const until = formatDate(input.expiresAt, 'en');
  const subject = t('staffmail.invite.subject', { org: input.org });
  const lead = t('staffmail.invite.lead', { org: input.org, role: input.role });
  const expires = t('staffmail.invite.expires', { date: until });
  const ignore = t('staffmail.invite.ignore');
  return {
    subject,
    secrets: [input.link],
    text: [lead, '', input.link, '', expires, ignore].join('\n'),
    html: page(`<p>${escapeHtml(lead)}</p>
<p><a href="${escapeHtml(input.link)}">${escapeHtml(t('staffmail.invite.button'))}</a></p>
<p>${escapeHtml(expires)}</p>
<p style="color:#555">${escapeHtml(ignore)}</p>`),
  };
}

export function breakGlassLetter(input: {
  org: string;
  who: string;
  activatedAt: Date;
  expiresAt: Date;
  reviewUrl: string;
}): StaffLetter {
  const t = translator('en');
  const vars = {
    org: input.org,
    who: input.who,
    at: input.activatedAt.toISOString(),
    until: input.expiresAt.toISOString(),
  };
  const subject = t('staffmail.breakglass.subject', vars);
  const lead = t('staffmail.breakglass.lead', vars);
  const review = t('staffmail.breakglass.review');
  return {
    subject,
    secrets: [],
    text: [lead, '', review, input.reviewUrl].join('\n'),
    html: page(`<p><strong>${escapeHtml(lead)}</strong></p>
<p>${escapeHtml(review)}</p>
<p><a href="${escapeHtml(input.reviewUrl)}">${escapeHtml(input.reviewUrl)}</a></p>`),
  };
}

export function newDeviceLetter(input: {
  org: string;
  at: Date;
  ip: string | null;
  userAgent: string | null;
  accountUrl: string;
}): StaffLetter {
  const t = translator('en');
  const vars = {
    org: input.org,
    at: input.at.toISOString(),
    ip: input.ip ?? '?',
    browser: input.userAgent?.slice(0, 160) ?? '?',
  };
  const subject = t('staffmail.newdevice.subject', vars);
  const lead = t('staffmail.newdevice.lead', vars);
  const where = t('staffmail.newdevice.where', vars);
  const notYou = t('staffmail.newdevice.not_you');
  return {
    subject,
    secrets: [],
    text: [lead, where, '', notYou, input.accountUrl].join('\n'),
    html: page(`<p>${escapeHtml(lead)}</p>
<p>${escapeHtml(where)}</p>
<p>${escapeHtml(notYou)}</p>
<p><a href="${escapeHtml(input.accountUrl)}">${escapeHtml(input.accountUrl)}</a></p>`),
  };
}

/**
 * Seals and queues the notice of a sign-in from a new device or address. Nothing when the
 * organisation has no verified sending domain to send from.
 */
export async function queueNewDeviceMail(
  deps: { db: Db; keyring: Keyring; queue: JobQueue; publicUrl: string },
  input: { orgId: string; userId: string; at: Date; ip: string | null; userAgent: string | null },
): Promise<boolean> {
  const domain = await staffMailDomain(deps.db, input.orgId);
  if (!domain) return false;
  const { rows } = await deps.db.query<{ email: string; org: string }>(
    `SELECT u.email, o.name AS org FROM users u JOIN organizations o ON o.org_id = u.org_id
     WHERE u.org_id = $1 AND u.user_id = $2`,
    [input.orgId, input.userId],
  );
  const user = rows[0];
  if (!user) return false;
  const letter = newDeviceLetter({
    org: user.org,
    at: input.at,
    ip: input.ip,
    userAgent: input.userAgent,
    accountUrl: `${deps.publicUrl.replace(/\/+$/, '')}/console/account`,
  });
  const mail = await sealStaffMail(deps.keyring, input.orgId, user.email, letter);
  await deps.db.transaction((tx) =>
    queueStaffMail(tx, deps.queue, input.orgId, 'new_device', [mail], input.at),
  );
  return true;
}

export interface StaffMailerDeps {
  db: Db;
  keyring: Keyring;
  log: Logger;
  clock(): Date;
  sendMail(input: {
    message: { org_id: string; message_id: string; from_domain: string };
    recipientId: string;
    to: string;
    raw: Buffer;
    kind: 'staff';
    redacted?: Buffer;
  }): Promise<SystemMailOutcome>;
}

/** The worker's side: opens a filed letter, sends it, forgets it. */
export class StaffMailer {
  private readonly deps: StaffMailerDeps;

  constructor(deps: StaffMailerDeps) {
    this.deps = deps;
  }

  async handle(job: StaffMailJob): Promise<void> {
    const { db, keyring, log } = this.deps;
    const { rows } = await db.query<{ purpose: string; payload_sealed: Buffer }>(
      'SELECT purpose, payload_sealed FROM staff_mail_outbox WHERE org_id = $1 AND mail_id = $2',
      [job.org_id, job.mail_id],
    );
    const row = rows[0];
    if (!row) return;
    const forget = () =>
      db.query('DELETE FROM staff_mail_outbox WHERE org_id = $1 AND mail_id = $2', [job.org_id, job.mail_id]);
    const domain = await staffMailDomain(db, job.org_id);
    if (!domain) {
      log.warn(
        { org_id: job.org_id, mail_id: job.mail_id, purpose: row.purpose },
        'staff mail not sent: no verified sending domain',
      );
      await forget();
      return;
    }
    const { to, letter } = JSON.parse(
      await keyring.openText(job.org_id, binding(job.mail_id), row.payload_sealed),
    ) as { to: string; letter: Letter & { secrets?: string[] } };
    // A letter filed before its secrets were named: every link in it is taken for one.
    const secrets = letter.secrets ?? letter.text.match(/https?:\/\/\S+/g) ?? [];
    const brand = await brandFor(db, job.org_id, '');
    const date = this.deps.clock();
    const compose = (content: Letter) =>
      composeLetter({
        letter: content,
        from: { name: brand.name, address: `no-reply@${domain}` },
        to,
        messageId: `<${job.mail_id}.staff@${domain}>`,
        date,
      });
    const outcome = await this.deps.sendMail({
      message: { org_id: job.org_id, message_id: job.mail_id, from_domain: domain },
      recipientId: job.mail_id,
      to,
      raw: await compose(letter),
      kind: 'staff',
      ...(secrets.length > 0 ? { redacted: await compose(maskSecrets(letter, secrets)) } : {}),
    });
    // The server's reply can quote the address: it stays out of the job's stored error.
    if (outcome.status === 'deferred') throw new Error(`staff ${row.purpose} mail deferred`);
    if (outcome.status !== 'delivered')
      log.warn(
        { org_id: job.org_id, mail_id: job.mail_id, purpose: row.purpose, status: outcome.status },
        'staff mail not delivered',
      );
    await forget();
  }
}
