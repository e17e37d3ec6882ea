export {
  type FoundKey,
  type FoundKeys,
  RecipientKeyFinder,
  type RecipientKeyFinderOptions,
  WKD_CACHE_TTL,
} from './finder.ts';
export { normalizeAddress, parseRecipientKey } from './parse.ts';
export { type RecipientKeyDeps, recipientKeyRoutes } from './routes.ts';
export {
  addRecipientKey,
  deleteRecipientKey,
  findRecipientKeys,
  getRecipientKey,
  type KeyPage,
  listRecipientKeys,
  type StoredKey,
} from './store.ts';
export { MIN_RSA_BITS, type ParsedRecipientKey, type RecipientKeyKind } from './types.ts';
export { lookupWkd, type WkdKey, WkdKeyRefused, type WkdOptions, wkdUrls } from './wkd.ts';
