export { type Binding, Keyring } from './keyring.ts';
export { loadMasterKeys, type MasterKey, type MasterKeys, masterKeyId, writeKeyFile } from './master-key.ts';
export {
  type AuditSigningKeys,
  auditSigningKeys,
  deriveSigningKey,
  loadSigningKeyFile,
  type SigningKey,
  signingKeyId,
} from './signing-key.ts';
