import { Type } from 'typebox';
import { errors, SealpostError } from '../errors/index.ts';
import { auditContext, ProblemSchema as Problem, type HttpServer } from '../http/index.ts';
import { type AccessControl, type AccessPolicy, allowedFrom, checkNetworks } from './access.ts';
import { roleExists } from './roles.ts';
import type { IdentityDeps } from './service.ts';

// The organisation's conditional-access policy over HTTP. A change that would refuse the caller's
// own present address is refused unless the request says force: true.

const Networks = Type.Array(Type.String({ maxLength: 64 }), {
  maxItems: 200,
  description: 'IPv4 or IPv6 ranges in CIDR form (a bare address is one host); empty: anywhere.',
});
const PolicySchema = Type.Object({
  networks: Networks,
  role_networks: Type.Record(Type.String(), Networks, {
    description:
      "Per role (a built-in role's name or a custom role's id): where its users may sign in and use their sessions from, besides networks.",
  }),
  notify_new_device: Type.Boolean({
    description:
      'Mail a person when they sign in from a device or network address they had not used before (default true; never for the first sign-in). Needs a verified sending domain.',
  }),
});

export function accessRoutes(deps: IdentityDeps, access: AccessControl) {
  return async (app: HttpServer) => {
    app.get(
      '/v1/policies/access',
      {
        config: { scope: 'policy:read' },
        schema: {
          tags: ['policy'],
          summary: 'Conditional access: the networks people and API keys may reach the organisation from',
          response: { 200: PolicySchema },
        },
      },
      async (request) => access.policy(deps.db, request.auth.orgId),
    );

    app.patch(
      '/v1/policies/access',
      {
        config: { scope: 'policy:manage', recentAuth: true },
        schema: {
          tags: ['policy'],
          summary: 'Change conditional access (needs a recent sign-in); fields left out keep their value',
          description:
            'Refused with 409 would_lock_out when your own present address would no longer be allowed, unless force is true. Sign-in, sessions and API keys from elsewhere are then refused with 403 network_not_allowed, each on the audit trail (access.denied).',
          body: Type.Object(
            {
              networks: Type.Optional(Networks),
              role_networks: Type.Optional(PolicySchema.properties.role_networks),
              notify_new_device: Type.Optional(PolicySchema.properties.notify_new_device),
              force: Type.Optional(
                Type.Boolean({ description: 'Apply even if it locks out your own address.' }),
              ),
            },
            { additionalProperties: false },
          ),
          response: { 200: PolicySchema, 403: Problem, 409: Problem, 422: Problem },
        },
      },
      async (request) => {
        const { orgId } = request.auth;
        const { networks, role_networks, notify_new_device, force } = request.body;
        return deps.db.transaction(async (tx) => {
          const before = await access.policy(tx, orgId);
          const next: AccessPolicy = {
            networks: networks ? checkNetworks(networks, 'networks') : before.networks,
            role_networks: role_networks ? {} : before.role_networks,
            notify_new_device: notify_new_device ?? before.notify_new_device,
          };
          for (const [role, list] of Object.entries(role_networks ?? {})) {
            if (!(await roleExists(tx, orgId, role)))
              throw errors.validation(`role_networks: unknown role "${role}".`, { role });
            const checked = checkNetworks(list, `role_networks.${role}`);
            if (checked.length > 0) next.role_networks[role] = checked;
          }
          const role = request.auth.session ? (request.auth.session.role ?? null) : null;
          const locksOut = !allowedFrom(next, role, request.ip);
          if (locksOut && !force)
            throw new SealpostError(
              'would_lock_out',
              `This policy would refuse your own address (${request.ip}): include it, or send force: true.`,
            );
          await access.setPolicy(tx, orgId, next);
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'policy.access_changed',
            objectType: 'organization',
            objectId: orgId,
            outcome: 'success',
            details: {
              networks: next.networks.join(' '),
              roles: Object.keys(next.role_networks).sort().join(' '),
              notify_new_device: next.notify_new_device,
              locks_out_caller: locksOut,
            },
          });
          return next;
        });
      },
    );
  };
}
