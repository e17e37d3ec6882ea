// Who acts and what they may do: the types every layer shares (audit, HTTP, identity and the
// capabilities). A leaf: it imports nothing of Sealpost's, so no folder cycles through it.
export type { Actor, RequestAuth } from './actor.ts';
export { isPermission, type Permission, PERMISSION_DESCRIPTIONS, PERMISSIONS } from './permissions.ts';
