// One permission set for roles and API key scopes. Routes name the permission they need.

export const PERMISSIONS = [
  'org:read',
  'org:manage',
  'users:read',
  'users:manage',
  'api_keys:read',
  'api_keys:manage',
  'audit:read',
  'keys:manage',
  'domains:read',
  'domains:manage',
  'recipient_keys:read',
  'recipient_keys:manage',
  'messages:send',
  'messages:read',
  'webhooks:read',
  'webhooks:manage',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

const READS = PERMISSIONS.filter((p) => p.endsWith(':read') && p !== 'audit:read');

export const ROLES: Record<string, readonly Permission[]> = {
  owner: PERMISSIONS,
  administrator: PERMISSIONS.filter((p) => p !== 'keys:manage'),
  compliance_officer: [
    'org:read',
    'users:read',
    'api_keys:read',
    'audit:read',
    'messages:read',
    'domains:read',
    'recipient_keys:read',
    'webhooks:read',
  ],
  sender: ['org:read', 'messages:send', 'messages:read', 'domains:read', 'recipient_keys:read'],
  marketer: ['org:read', 'messages:send', 'messages:read', 'domains:read', 'recipient_keys:read'],
  read_only: READS,
};

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}
