import type { FastifyRequest } from 'fastify';
import { errors } from '../errors/index.ts';
import type { HttpServer } from './server.ts';

// Values that pass every schema keyword but that PostgreSQL cannot take: a NUL character in text or
// JSON (UTF-8 text may not hold U+0000), and a number that is not finite (Ajv's type coercion turns
// the query value "Infinity" or "1e309" into Infinity, JSON.parse reads 1e309 as Infinity, and
// either passes `integer` with only a minimum). They are refused for every route in one place,
// after validation and before any handler, as the schema's own refusals are: 400 invalid_request.
// Headers need no check: Node's parser refuses a NUL in them, and none is coerced to a number.

const PARTS: [name: string, value: (request: FastifyRequest) => unknown][] = [
  ['params', (request) => request.params],
  ['querystring', (request) => request.query],
  ['body', (request) => request.body],
];

export function refuseUnstorableInput(app: HttpServer): void {
  app.addHook('preHandler', async (request) => {
    const found = PARTS.flatMap(([name, value]) => unstorableValues(name, value(request)));
    if (found.length > 0)
      throw errors.invalidRequest('The request holds a value that cannot be stored.', found);
  });
}

const MAX_REPORTED = 10;

/** Where a value holds what no database takes, as `part/json/pointer` paths with the reason. */
export function unstorableValues(part: string, value: unknown): { path: string; message: string }[] {
  const found: { path: string; message: string }[] = [];
  // Breadth first and without recursion: a body may be nested deeper than the stack.
  const queue: [string, unknown][] = [[part, value]];
  for (let i = 0; i < queue.length && found.length < MAX_REPORTED; i++) {
    const [path, v] = queue[i]!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) found.push({ path, message: 'must not contain the NUL character (U+0000)' });
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) found.push({ path, message: 'must be a finite number' });
    } else if (Array.isArray(v)) {
      v.forEach((item, index) => queue.push([`${path}/${index}`, item]));
    } else if (v !== null && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        const at = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1').replaceAll('\u0000', '\\u0000')}`;
        if (key.includes('\u0000'))
          found.push({ path: at, message: 'the name must not contain the NUL character (U+0000)' });
        queue.push([at, item]);
      }
    }
  }
  return found;
}
