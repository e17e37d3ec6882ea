// The secure portal: where recipients read, download and reply to what could not be sent to them
// encrypted, and what senders control of it.
export { brandFor, loadBranding } from './branding.ts';
export { ensurePortalDelivery, type PortalDelivery, portalLink, tokenHash } from './deliveries.ts';
export { type Brand, composeLetter, type Letter, noticeLetter } from './letters.ts';
export { PortalMailer, type PortalMailerDeps, type SystemMailOutcome } from './mailer.ts';
export { PORTAL_MAIL_QUEUE, type PortalDeps, type PortalMailJob } from './types.ts';
export { brandingRoutes } from './branding-routes.ts';
export { expirePortalDeliveries, portalControlRoutes } from './control.ts';
export { portalRoutes } from './routes.ts';
export { escapeHtml, Html, html } from './html.ts';
export { KNOWN_UPLOAD_TYPES, type UploadType } from './uploads.ts';
