export { Outbound, type OutboundDeps } from './outbound.ts';
export { RouteError, orderMx } from './route.ts';
export type {
  MxHost,
  OutboundOptions,
  Rejection,
  SendOutcome,
  SendRequest,
  TlsInfo,
  TlsPolicy,
} from './types.ts';
