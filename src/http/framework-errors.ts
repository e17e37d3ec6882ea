import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorCode } from '../errors/index.ts';
import { errorHandler, type Problem, problemJson, sendProblem } from './problem.ts';

// Requests refused before any route sees them, by Node's HTTP parser or by Fastify's router,
// answer as problem+json like every other refusal, with a stable code.

/**
 * Fastify's `frameworkErrors`: a path that does not decode (broken percent-encoding) or a path
 * parameter longer than the router takes.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error.code === 'FST_ERR_BAD_URL')
    return sendProblem(reply, {
      code: 'invalid_url',
      detail: 'The request path is not valid percent-encoded UTF-8.',
    });
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return sendProblem(reply, {
      code: 'uri_too_long',
      detail: 'A part of the request path is longer than any identifier this API uses.',
    });
  return errorHandler(error, request, reply);
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refused (malformed HTTP, headers over
 * the size limit, a request too slow to arrive). The answer goes on the raw socket, which closes.
 */
export function answerClientError(
  error: NodeJS.ErrnoException,
  socket: Socket & { _httpMessage?: ServerResponse | null },
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  // As Node itself does: an answer already under way on this socket (the refused bytes came after a
  // request that was answered) is not followed by a second one.
  const answering = socket._httpMessage?.headersSent ?? false;
  const [code, detail]: [ErrorCode, string] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ['headers_too_large', 'The request line and headers are larger than this server accepts.']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['request_timeout', 'The request did not arrive in time.']
        : ['malformed_request', `The request is not valid HTTP (${error.code ?? 'unparsable'}).`];
  if (socket.writable && !answering) socket.write(rawProblem(problemJson({ code, detail }, randomUUID())));
  socket.destroy(error);
}

/**
 * Node's `checkExpectation`: an `Expect` header other than 100-continue, which Node would answer
 * with a bare 417.
 */
export function answerUnknownExpectation(_request: IncomingMessage, response: ServerResponse): void {
  const problem = problemJson(
    {
      code: 'expectation_failed',
      detail: 'The only expectation this server meets is "Expect: 100-continue".',
    },
    randomUUID(),
  );
  const body = JSON.stringify(problem);
  response
    .writeHead(problem.status, {
      'content-type': 'application/problem+json',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    })
    .end(body);
}

/** A whole HTTP answer, for a socket no response object owns. */
function rawProblem(problem: Problem): string {
  const body = JSON.stringify(problem);
  return [
    `HTTP/1.1 ${problem.status} ${problem.title}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}
