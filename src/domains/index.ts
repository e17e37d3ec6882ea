export {
  type DkimAlgorithm,
  type DkimKeyPair,
  type DkimKeyStatus,
  dkimRecordValue,
  generateDkimKeys,
} from './dkim.ts';
export { type DnsRecord, expectedRecords, normalizeDomain, type PublishedKey } from './records.ts';
export { type DomainDeps, domainRoutes } from './routes.ts';
export {
  addDomain,
  dkimBinding,
  type DkimSigningKey,
  dkimSigningKeys,
  isVerifiedDomain,
  type DomainView,
  listDomains,
  type PreparedDomain,
  prepareDomain,
  recordCheck,
  verifyForSandbox,
} from './store.ts';
export { checkDomain, createResolver, type DomainCheck, lookupTxt, type RecordCheck } from './verify.ts';
