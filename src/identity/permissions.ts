// The built-in roles over the permission catalogue (src/access-model).
import { type Permission, PERMISSIONS } from '../access-model/index.ts';

const reads = PERMISSIONS.filter(
  (p) => p.endsWith(':read') && p !== 'audit:read' && p !== 'sandbox:read',
) as readonly Permission[];

/** The built-in roles: listed with the custom ones, never changed or deleted. */
export const ROLES: Readonly<Record<string, readonly Permission[]>> = {
  owner: PERMISSIONS,
  // Everything but the organisation's encryption keys and single sign-on: whoever sets the identity
  // provider decides who signs in as anyone, owners included.
  administrator: PERMISSIONS.filter((p) => p !== 'keys:manage' && p !== 'sso:manage'),
  // Reads the audit trail, reports and policy; cannot send, change or revoke anything.
  compliance_officer: [
    'org:read',
    'policy:read',
    'users:read',
    'roles:read',
    'api_keys:read',
    'audit:read',
    'audit:export',
    'reports:read',
    'messages:read',
    'suppressions:read',
    'domains:read',
    'recipient_keys:read',
    'webhooks:read',
  ],
  // Clinicians and staff who send protected mail and manage what they sent.
  sender: [
    'org:read',
    'messages:send',
    'messages:read',
    'messages:revoke',
    'suppressions:read',
    'domains:read',
    'recipient_keys:read',
    'sandbox:read',
  ],
  marketer: [
    'org:read',
    'messages:send',
    'messages:read',
    'suppressions:read',
    'suppressions:manage',
    'reports:read',
    'domains:read',
    'recipient_keys:read',
    'sandbox:read',
  ],
  read_only: reads,
};

export function isBuiltInRole(role: string): boolean {
  return Object.hasOwn(ROLES, role);
}
