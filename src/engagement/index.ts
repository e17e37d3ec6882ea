// Engagement and feedback: tracked clicks and opens, one-click unsubscribe, and the bounces and
// complaints that come back after delivery.
export { type FeedbackDeps, feedbackRoutes } from './feedback.ts';
export { addPixel, rewriteLinks, trackedLinks } from './links.ts';
export { Personaliser } from './personalise.ts';
export { diagnosticCode, fieldBlocks, type ParsedReport, parseReport } from './reports.ts';
export { type EngagementDeps, engagementRoutes } from './routes.ts';
export { EngagementKeys, type LinkClaims, type LinkKind } from './tokens.ts';
