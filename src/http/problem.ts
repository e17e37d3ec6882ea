import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, SealpostError, statusOf } from '../errors/index.ts';

/** RFC 9457 problem details, the body of every error answer. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  request_id?: string;
  errors?: { path: string; message: string }[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A problem to answer; its status is the catalogue's for its code unless given. */
type ProblemInput = Omit<Problem, 'type' | 'title' | 'status'> & { status?: number; title?: string } & Record<
    string,
    unknown
  >;

/** The body of a problem answer; fields beyond the standard ones (e.g. per-recipient results) pass through. */
export function problemJson(problem: ProblemInput, requestId: string): Problem & Record<string, unknown> {
  const { status = statusOf(problem.code), ...rest } = problem;
  return {
    type: `https://sealpost.dev/problems/${problem.code}`,
    title: problem.title ?? TITLES[status] ?? 'Error',
    status,
    ...rest,
    request_id: requestId,
  };
}

/** Sends a problem. */
export function sendProblem(reply: FastifyReply, problem: ProblemInput) {
  const body = problemJson(problem, reply.request.id);
  return reply.code(body.status).type('application/problem+json').send(body);
}

/** A SealpostError as the problem body it would answer with, for results that embed one (batches). */
export function problemOf(err: SealpostError): Problem & Record<string, unknown> {
  return {
    type: `https://sealpost.dev/problems/${err.code}`,
    title: TITLES[err.status] ?? 'Error',
    status: err.status,
    code: err.code,
    detail: err.message,
    ...(err.details ?? {}),
  };
}

/** Fastify's client errors that have a code of their own; any other is a `bad_request`. */
const FRAMEWORK_CODES: Partial<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
};

/** Turns any error thrown while serving a request into problem+json, without leaking internals. */
export function errorHandler(
  error: FastifyError | SealpostError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  if (error instanceof SealpostError) {
    return sendProblem(reply, {
      status: error.status,
      code: error.code,
      detail: error.message,
      ...(error.details ?? {}),
    });
  }
  const fe = error as FastifyError;
  if (fe.validation) {
    return sendProblem(reply, {
      code: 'invalid_request',
      detail: `The request ${fe.validationContext ?? 'body'} does not match the schema.`,
      errors: fe.validation.map((v) => ({
        path: `${fe.validationContext ?? 'body'}${v.instancePath}`,
        message:
          v.keyword === 'additionalProperties'
            ? `unknown field "${(v.params as { additionalProperty: string }).additionalProperty}"`
            : (v.message ?? 'is invalid'),
      })),
    });
  }
  const status = fe.statusCode ?? 500;
  if (status >= 500) {
    request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, {
      code: 'internal_error',
      detail: 'Something went wrong on our side.',
    });
  }
  const code = FRAMEWORK_CODES[fe.code] ?? 'bad_request';
  // Fastify's own messages for client errors are safe and helpful; a JSON parser's echo of the body is not.
  const detail = code === 'invalid_json' ? 'The request body is not valid JSON.' : fe.message;
  return sendProblem(reply, { status, code, detail });
}
