import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SealpostError } from '../errors/index.ts';

/** RFC 9457 problem details, the body of every error answer. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
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

type ProblemInput = Omit<Problem, 'type' | 'title'> & { title?: string } & Record<string, unknown>;

/** The body of a problem answer; fields beyond the standard ones (e.g. per-recipient results) pass through. */
export function problemJson(problem: ProblemInput, requestId: string): Problem & Record<string, unknown> {
  return {
    type: `https://sealpost.dev/problems/${problem.code}`,
    title: problem.title ?? TITLES[problem.status] ?? 'Error',
    ...problem,
    request_id: requestId,
  };
}

/** Sends a problem. */
export function sendProblem(reply: FastifyReply, problem: ProblemInput) {
  return reply
    .code(problem.status)
    .type('application/problem+json')
    .send(problemJson(problem, reply.request.id));
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
      status: 400,
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
      status: 500,
      code: 'internal_error',
      detail: 'Something went wrong on our side.',
    });
  }
  const code =
    {
      FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
      FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
      FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
      FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
    }[fe.code] ?? 'bad_request';
  // Fastify's own messages for client errors are safe and helpful; a JSON parser's echo of the body is not.
  const detail = code === 'invalid_json' ? 'The request body is not valid JSON.' : fe.message;
  return sendProblem(reply, { status, code, detail });
}
