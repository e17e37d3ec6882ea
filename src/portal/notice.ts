// The notice a portal recipient gets by email. It says who sent a secure message and where to read
// it, and nothing else: no subject, no body, no names of patients.

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface Notice {
  subject: string;
  text: string;
  html: string;
}

export function portalNotice(input: { orgName: string; link: string; expiresAt: Date }): Notice {
  const until = input.expiresAt.toISOString().slice(0, 10);
  const subject = `Secure message from ${input.orgName}`;
  const text = [
    `${input.orgName} sent you a secure message.`,
    '',
    'To protect your privacy it is kept in a secure portal. Open it here:',
    input.link,
    '',
    `The message can be read until ${until}. You will be asked to confirm who you are before it opens.`,
    'If you did not expect this message, you can ignore this email.',
  ].join('\n');
  const org = escapeHtml(input.orgName);
  const html = `<!doctype html><html lang="en"><body style="font-family:sans-serif;color:#1a1a1a">
<p><strong>${org}</strong> sent you a secure message.</p>
<p>To protect your privacy it is kept in a secure portal.</p>
<p><a href="${escapeHtml(input.link)}" style="display:inline-block;padding:10px 16px;background:#0b5cad;color:#fff;text-decoration:none;border-radius:4px">Read the secure message</a></p>
<p>The message can be read until ${until}. You will be asked to confirm who you are before it opens.</p>
<p style="color:#555">If you did not expect this message, you can ignore this email.</p>
</body></html>`;
  return { subject, text, html };
}
