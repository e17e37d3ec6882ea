export { type Binding, Keyring } from './keyring.ts';
export { loadMasterKeys, type MasterKey, type MasterKeys, masterKeyId, writeKeyFile } from './master-key.ts';
