// Reports: what happened to the organisation's messages over a period (states and methods,
// portal engagement, deliverability) and the protection report, in JSON or as CSV downloads
// that go on the audit record. All computed in SQL over the caller's organisation.
export { type AggregateReport, type AggregateResult, aggregateReport, FIGURES } from './aggregates.ts';
export {
  checkInterval,
  type GroupBy,
  INTERVALS,
  type Interval,
  type Period,
  resolvePeriod,
} from './period.ts';
export {
  PROTECTION_COLUMNS,
  type ProtectionRow,
  type ProtectionSummary,
  protectionPage,
  protectionRows,
  protectionSummary,
} from './protection.ts';
export { type ReportDeps, reportRoutes } from './routes.ts';
