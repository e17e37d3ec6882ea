import { join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendProblem, type HttpServer } from '../http/index.ts';
import { type BuiltFile, loadBuild } from './files.ts';

// The console's single-page application, served by Sealpost itself under /console/app/: hashed
// assets cached for a year, index.html for every other path under it (the app's own routes) and
// never cached, so a new build is picked up at the next load. The security headers, the strict CSP
// among them, come from the HTTP server as for every answer.

export const CONSOLE_APP_PATH = '/console/app/';
export const DEFAULT_BUILD_DIR = join(import.meta.dirname, '..', '..', 'web', 'dist');

const IMMUTABLE = 'public, max-age=31536000, immutable';

function send(request: FastifyRequest, reply: FastifyReply, file: BuiltFile, cacheControl: string) {
  reply.header('cache-control', cacheControl).header('etag', file.etag).header('vary', 'accept-encoding');
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  reply.type(file.type);
  if (file.gzip && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
    return reply.header('content-encoding', 'gzip').send(file.gzip);
  }
  return reply.send(file.body);
}

export function consoleAppRoutes(options: { buildDir?: string } = {}) {
  return async (app: HttpServer) => {
    const files = loadBuild(options.buildDir ?? DEFAULT_BUILD_DIR);
    const route = { config: { public: true }, schema: { hide: true } } as const;

    app.get('/console/app', route, async (_request, reply) => reply.redirect(CONSOLE_APP_PATH, 308));

    app.get('/console/app/*', route, async (request, reply) => {
      const index = files.get('index.html');
      if (!index)
        return sendProblem(reply, {
          code: 'console_not_built',
          detail: 'The console is not built: run `npm run build` (npm start and npm test do it first).',
        });
      const path = (request.params as { '*': string })['*'];
      const file = files.get(path);
      // Only the hashed files under assets/ never change; others (the icon) are checked each time.
      if (file && path !== 'index.html')
        return send(request, reply, file, path.startsWith('assets/') ? IMMUTABLE : 'no-cache');
      // A missing asset is a 404, not the app: a stale page asking for an old file learns it at once.
      if (path.startsWith('assets/'))
        return sendProblem(reply, { code: 'not_found', detail: `No console file ${path}.` });
      return send(request, reply, index, 'no-cache');
    });
  };
}
