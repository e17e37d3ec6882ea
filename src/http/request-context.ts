import type { FastifyRequest } from 'fastify';

/** Who did it and from where: the part of an audit record every authenticated route shares. */
export function auditContext(request: FastifyRequest) {
  return {
    orgId: request.auth.orgId,
    actor: request.auth.actor,
    ip: request.ip,
    requestId: request.id,
  };
}
