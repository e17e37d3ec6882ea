export { type ApiKey, checkApiKey, createApiKey, listApiKeys, revokeApiKey } from './api-keys.ts';
export { isPermission, PERMISSIONS, type Permission, ROLES } from './permissions.ts';
export { identityRoutes } from './routes.ts';
export { type IdentityDeps, IdentityService, type InitResult } from './service.ts';
export { createUser, hashPassword, listUsers, verifyPassword } from './users.ts';
export { authRoutes } from './auth-routes.ts';
export { consoleRoutes } from './console-routes.ts';
export { recentAuth, StaffAuth } from './staff-auth.ts';
