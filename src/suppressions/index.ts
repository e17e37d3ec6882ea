export { type SuppressionDeps, suppressionRoutes } from './routes.ts';
export {
  listSuppressions,
  removeSuppression,
  type Suppression,
  type SuppressionReason,
  suppress,
  suppressedAmong,
  suppressedAmongMany,
} from './store.ts';
