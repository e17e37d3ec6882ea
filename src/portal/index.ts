// The secure portal: where recipients read what could not be sent to them encrypted.
export { ensurePortalDelivery, type PortalDelivery, portalLink, tokenHash } from './deliveries.ts';
export { type Notice, portalNotice } from './notice.ts';
