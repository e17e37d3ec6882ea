// Text messages: a one-time code or a link to a number the sender supplied, never PHI.
// createSmsSender picks the sender: the sandbox capture, a twilio-compatible carrier, or none.
export {
  createSmsSender,
  NotConfiguredSmsSender,
  type SmsConfig,
  type SmsDeps,
  smsConfigProblems,
} from './config.ts';
export { SmsError, type SmsErrorCode } from './errors.ts';
export { checkMessage, MAX_BODY_CHARS } from './message.ts';
export { normalizePhone } from './phone.ts';
export {
  listSandboxSms,
  type SandboxSms,
  SandboxSmsSender,
  smsBodyBinding,
  smsToBinding,
} from './sandbox.ts';
export { messagesUrl, type TwilioCompatibleOptions, TwilioCompatibleSender } from './twilio.ts';
export type { SmsMessage, SmsResult, SmsSender } from './types.ts';
