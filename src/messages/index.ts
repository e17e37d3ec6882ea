// Messages: submit (the one way in), their sealed content, and what the API shows of them.
export { DELIVERY_CHANNEL, PRIORITY } from './delivery-queue.ts';
export type { KeyLookup } from './preview.ts';
export { type MessageDeps, messageRoutes } from './routes.ts';
export { getMessage, listMessages, loadMessage, openContent } from './read.ts';
export {
  type Accepted,
  type Submission,
  type SubmitContext,
  type SubmitDeps,
  type SubmitOutcome,
  submitMessage,
  submitMessages,
} from './submit.ts';
export * from './types.ts';
export { domainOf, normalizeAddress, validateMessage } from './validate.ts';
