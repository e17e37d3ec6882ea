export type { ContentEncryption } from './cms.ts';
export type { EnvelopeOptions } from './envelope.ts';
export { encryptPgpMime, type PgpMimeOptions } from './pgp-mime.ts';
export { encryptSmime, type SmimeOptions } from './smime.ts';
