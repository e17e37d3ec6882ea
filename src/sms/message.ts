import { SmsError } from './errors.ts';
import { normalizePhone } from './phone.ts';
import type { SmsMessage } from './types.ts';

// The checks every sender makes before anything leaves or is kept, so the sandbox refuses what a
// carrier would refuse.

/** The longest body carriers take (Twilio: 1,600 characters, split into up to 10 segments). */
export const MAX_BODY_CHARS = 1600;
const PURPOSE = /^[a-z0-9][a-z0-9_.:-]{0,63}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const refuse = (message: string) => new SmsError('sms_invalid_message', message, { retryable: false });

/** The message with its number in E.164, or a non-retryable SmsError. */
export function checkMessage(message: SmsMessage): SmsMessage {
  const to = normalizePhone(message.to);
  const { body, context } = message;
  if (typeof body !== 'string' || body.trim() === '') throw refuse('The text message is empty.');
  if ([...body].length > MAX_BODY_CHARS)
    throw refuse(`The text message is longer than ${MAX_BODY_CHARS} characters.`);
  if (!context || typeof context.orgId !== 'string' || !UUID.test(context.orgId))
    throw refuse('The text message names no organisation (context.orgId).');
  if (typeof context.purpose !== 'string' || !PURPOSE.test(context.purpose))
    throw refuse(
      'The purpose of a text message is a short identifier such as portal-otp (lowercase letters, digits, _ . : -).',
    );
  return { to, body, context: { orgId: context.orgId, purpose: context.purpose } };
}
