// One permission set for roles (built-in and custom) and API key scopes. Every route names the
// one permission it needs (config.scope); the HTTP server refuses a route that names none, or one
// that is not in this list.

export const PERMISSION_DESCRIPTIONS = {
  'org:read': 'See the organisation and its branding',
  'org:manage': "Change the organisation's settings",
  'branding:manage': "Change the portal's and letters' branding",
  'policy:read': 'See the sign-in, access and SecureLine policies',
  'policy:manage': 'Change the sign-in, access and SecureLine policies (needs a recent sign-in)',
  'sso:manage':
    "Set single sign-on, prove its domains and decide whether the provider's MFA stands for a user's own (owners; needs a recent sign-in)",
  'users:read': 'See staff users',
  'users:manage': 'Manage staff users: their roles, resets of failed sign-ins (needs a recent sign-in)',
  'roles:read': 'See roles and their permissions',
  'roles:manage': 'Create, change and delete custom roles (needs a recent sign-in)',
  'api_keys:read': 'See API keys (never their secrets)',
  'api_keys:manage': 'Create (needs a recent sign-in) and revoke API keys',
  'audit:read': 'Read the audit trail and verify its chain',
  'audit:export': 'Export the audit trail as JSON lines or CSV (needs a recent sign-in)',
  'keys:manage': "Manage the organisation's encryption keys",
  'domains:read': 'See sending domains',
  'domains:manage': 'Add, verify and rotate DKIM for sending domains',
  'recipient_keys:read': "See recipients' keys and protection preferences",
  'recipient_keys:manage': "Add and remove recipients' keys and protection preferences",
  'messages:send': 'Send messages and hand in bounce and complaint reports',
  'messages:read': "See messages, their recipients' states and the event stream",
  'messages:revoke': 'Revoke, extend, unlock and re-notify portal deliveries',
  'suppressions:read': 'See suppressed addresses',
  'suppressions:manage': 'Lift suppressions',
  'reports:read': 'Read and download reports',
  'sandbox:read': "Read the sandbox's captured mail (the whole message)",
  'webhooks:read': 'See webhook endpoints and their attempts',
  'webhooks:manage': 'Add, change, test and replay webhooks',
} as const;

export type Permission = keyof typeof PERMISSION_DESCRIPTIONS;
export const PERMISSIONS = Object.keys(PERMISSION_DESCRIPTIONS) as readonly Permission[];

export function isPermission(value: string): value is Permission {
  return Object.hasOwn(PERMISSION_DESCRIPTIONS, value);
}
