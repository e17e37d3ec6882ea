// Webhooks: endpoints per organisation, the public events fanned out to them from the audit
// trail, and their delivery: signed per Standard Webhooks, at least once, retried for days, to
// public addresses only.
export { WebhookDispatcher } from './dispatcher.ts';
export { fanOut, fanOutOrg } from './fanout.ts';
export { resolveTarget, type Target, type TargetPolicy, TargetRefused } from './guard.ts';
export { webhookRoutes } from './routes.ts';
export { DEFAULT_RETRY_SCHEDULE, describeSchedule, parseRetrySchedule } from './schedule.ts';
export { keepAliveAgents, type SendOutcome, sendWebhook } from './send.ts';
export { generateSecret, secretKey, sign, signedHeaders } from './signature.ts';
export {
  TEST_EVENT_TYPE,
  WEBHOOK_QUEUE,
  WEBHOOK_SWEEP_QUEUE,
  type WebhookDeps,
  type WebhookJob,
  type WebhookSettings,
  webhookSettings,
} from './types.ts';
export { defineWebhookQueues, startWebhookWorker, sweep, type WebhookWorker } from './worker.ts';
