// SecureLine: the one way out. Per recipient, at delivery time, the best protection they can take
// (OpenPGP, S/MIME, enforced TLS or the secure portal), DKIM-signed and delivered over SMTP.
export { buildMessage } from './build.ts';
export { backoffSeconds } from './attempts.ts';
export { Secureline } from './deliver.ts';
export type {
  DeliveryContext,
  Encryptors,
  FoundKey,
  MailKind,
  RecipientKeys,
  SecurelineDeps,
  Transport,
} from './types.ts';
export { signDkim } from './dkim.ts';
export {
  type Choice,
  type ChoiceInput,
  chooseMethod,
  DEFAULT_POLICY,
  loadPolicy,
  type SecurelinePolicy,
} from './policy.ts';
export {
  type PreferenceDeps,
  preferenceRoutes,
  type RecipientPreference,
  recipientPreference,
} from './preferences.ts';
export { type PolicyDeps, policyRoutes } from './routes.ts';
export { type Claimed, claimDue, type DeliveryQueueStats, deliveryQueueStats } from './queue.ts';
export { DeliveryWorker, type DeliveryWorkerOptions } from './worker.ts';
