// Public events: the state changes of messages, projected from the audit trail, for integrations
// (the event stream GET /v1/events, and webhooks).
export { eventRoutes, EventTypeSchema, parseTypes, PublicEventSchema } from './routes.ts';
export {
  type ChainEvent,
  chainHead,
  decodeCursor,
  encodeCursor,
  type EventPage,
  eventsById,
  eventsBySeq,
  listEvents,
  readChainEvents,
  SCAN_WINDOW,
} from './store.ts';
export {
  EVENT_TYPE_NAMES,
  EVENT_TYPES,
  type EventType,
  type EventTypeSpec,
  isEventType,
  type PublicEvent,
  publicEvent,
} from './types.ts';
