// Hostile requests for every operation of an OpenAPI document, as fast-check arbitraries.
//
// A request starts valid for its schema (path parameters, query parameters, headers, JSON body),
// then takes one mutation: one value replaced by a hostile one (non-finite and huge numbers, NUL,
// lone surrogates, long strings, far dates, SQL and path fragments, wrong types), or hostile
// framing (broken percent-encoding, long segments, junk query strings, wrong media types, broken
// and deeply nested JSON, odd and oversized headers). One change at a time gets each hostile value
// past the validation of the rest of the request, to wherever it would do harm.
import fc from 'fast-check';

export interface Schema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  format?: string;
  description?: string;
}

interface Parameter {
  in: 'path' | 'query' | 'header' | 'cookie';
  name: string;
  schema?: Schema;
}

export interface Operation {
  method: string;
  /** The OpenAPI path, with `{name}` placeholders. */
  path: string;
  parameters: Parameter[];
  body: Schema | null;
  /** The 5xx answers the document promises (502 when an identity provider is down, say). */
  serverErrors: number[];
}

/** Every operation of the document, in its order. */
export function operationsOf(doc: {
  paths: Record<
    string,
    Record<string, { parameters?: Parameter[]; requestBody?: unknown; responses?: Record<string, unknown> }>
  >;
}): Operation[] {
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const body = op.requestBody as { content?: Record<string, { schema?: Schema }> } | undefined;
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: op.parameters ?? [],
        body: body?.content?.['application/json']?.schema ?? null,
        serverErrors: Object.keys(op.responses ?? {})
          .map(Number)
          .filter((status) => status >= 500),
      });
    }
  }
  return operations;
}

/** A JSON value written as given: numbers JSON.stringify cannot write (1e309, -0, 2^64). */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export function toJson(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

/** As a query, path or header value: the text a client would type. */
function asText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (typeof value === 'string') return value;
  return toJson(value);
}

// ---- Hostile values, by kind: a mutation picks a kind first, so that each kind comes up often.

const NON_FINITE = ['1e309', '-1e309', 'Infinity', '-Infinity', 'NaN'];
// prettier-ignore
const ODD_NUMBERS = [
  '-0', '1e-400', '0.5', '-1', '1e3', '0x10', '1_000', ' 1', '9007199254740993', '-9007199254740993',
  '2147483648', '-2147483649', '9223372036854775808', '18446744073709551616', '1e30',
];
// prettier-ignore
const DATES = [
  '0001-01-01', '0001-01-01T00:00:00Z', '0001-01-01T00:00:00+14:00', '9999-12-31T23:59:59-14:00', '0001-01-02', '0000-01-01', '-000001-01-01T00:00:00Z',
  '9999-12-31', '9999-12-31T23:59:59.999Z', '+275760-09-13T00:00:00Z', '10000-01-01', '1900-01-01',
  '2024-02-30', '2024-13-01', '2024-01-01T25:00:00Z', '2024-01-01T00:00:00+99:00',
  '2024-01-01T00:00:00.1234567890Z', '4713-01-01', '294277-01-01',
];
/** Cursors as a client could forge them: the shapes paging cursors take, with hostile insides. */
const b64 = (text: string) => Buffer.from(text).toString('base64url');
// prettier-ignore
const FORGED_CURSORS = [
  b64('1|0'), b64(`1|${'-'.repeat(36)}`), b64(`2026-01-01T00:00:00.000Z|${'a'.repeat(36)}`),
  b64('2026-01-01 00:00:00+00|00000000-0000-0000-0000-000000000000\u0000'), b64('0001-01-01T00:00:00.000Z|999999999999999'),
  b64('ev1:999999999999999'), b64('Tue, 1 Jan 30000|x'), b64('\u0000|\u0000'),
  b64('2024-02-30T00:00:00.000Z|00000000-0000-0000-0000-000000000000'), b64('0000-01-01T00:00:00.000Z|1'),
  b64('2026-99-99 00:00:00+00|00000000-0000-0000-0000-000000000000'),
  b64(JSON.stringify({ from: '0001-01-01T00:00:00+14:00', to: '0001-01-02T00:00:00Z', tz: 'UTC', time: '2026-01-01 00:00:00', message: '00000000-0000-0000-0000-000000000000', position: 0 })),
  b64(JSON.stringify({ from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', tz: '\u0000', time: '2026-01-01 00:00:00', message: '00000000-0000-0000-0000-000000000000', position: 1e300 })),
  b64(JSON.stringify({ from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', tz: 'Nowhere/Else', time: '2026-01-01 00:00:00', message: '00000000-0000-0000-0000-000000000000', position: -1 })),
];
// The first four kinds are what PostgreSQL refuses or what overflows: they come up three times as often.
// prettier-ignore
const HOSTILE_STRINGS: string[][] = [
  FORGED_CURSORS,
  ['\u0000', 'a\u0000b', 'patient\u0000@example.org', 'clinic\u0000.example', '\u0000'.repeat(3)],
  [...NON_FINITE, ...ODD_NUMBERS],
  DATES,
  ['\uD800', '\uDFFF', 'x\uDBFFy', 'patient\uD800@example.org'],
  ['x'.repeat(256), 'x'.repeat(5000), 'é'.repeat(2000), `${'a'.repeat(64)}@${'b'.repeat(190)}.example`],
  [
    "'", "' OR '1'='1", '"; DROP TABLE organizations; --', '$1', '${jndi:ldap://x/a}', '{{7*7}}',
    '<script>alert(1)</script>', 'javascript:alert(1)', 'a\r\nSet-Cookie: x=1', '\r\n.\r\n', '%s%n',
  ],
  ['/', '.', '..', '../../etc/passwd', '..%2f..%2fetc%2fpasswd', '%00', '%', '%zz', '\\', 'a/b'],
  [
    'PATIENT@EXAMPLE.ORG', 'a@b', '@', 'a@', '@b', 'a@b@c', '"a b"@example.org', 'a@[127.0.0.1]',
    'ü@ü.example', 'a@xn--', 'example..org', 'xn--80ak6aa92e.com', '-', '.example.org',
  ],
  ['\uFEFF', '\u202Eevil', 'ǅ̈̈̈', '👩‍⚕️🏥', 'ﷺ', '\u00A0', 'İ', 'ß'],
  ['', ' ', '\t', '\n'],
  [
    'null', 'undefined', 'true', '[]', '{}', '__proto__', 'constructor', 'toString',
    '00000000-0000-0000-0000-000000000000', 'not-a-uuid', 'spk_x_y', 'Europe/Nowhere', 'Etc/GMT+14',
    'http://127.0.0.1:1/', 'https://169.254.169.254/latest', 'file:///etc/passwd', '127.0.0.1/0', '::/0',
  ],
];

/** A hostile string: a kind of trouble, or random code units (lone surrogates included) or graphemes. */
const hostileString = fc.oneof(
  ...HOSTILE_STRINGS.map((values, i) => ({ weight: i < 4 ? 3 : 1, arbitrary: fc.constantFrom(...values) })),
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
);

const hostileNumber = fc.oneof(
  fc.constantFrom(...NON_FINITE).map((n) => new RawJson(n)),
  fc.constantFrom(...ODD_NUMBERS).map((n) => new RawJson(n)),
  fc.integer(),
  fc.double(),
);

/** Any JSON value at all, for a place that expects something else. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, [], {}),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 3 }),
  fc.constant(new RawJson(`${'['.repeat(2000)}${']'.repeat(2000)}`)),
);

const hostileValue = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 2, arbitrary: hostileNumber },
  { weight: 1, arbitrary: anyValue },
);

// ---- Valid values, from the schema (and, for free text, from the field's name).

const ADDRESSES = fc.constantFrom('patient@example.org', 'dr.smith@clinic.example');
const PLAUSIBLE: [RegExp, fc.Arbitrary<string>][] = [
  [
    /^(from|to|since|send_at|expires_at)$/,
    fc.constantFrom('2026-01-01', '2026-02-01T08:00:00Z', '2025-12-31'),
  ],
  [/^tz$/, fc.constantFrom('UTC', 'America/New_York', 'Pacific/Kiritimati')],
  [/address|email/, ADDRESSES],
  [/domain/, fc.constantFrom('clinic.example', 'mail.clinic.example')],
  [/url|issuer/, fc.constantFrom('https://hooks.example.org/sealpost', 'https://idp.example.org')],
  [/network/, fc.constantFrom('10.0.0.0/8', '2001:db8::/32', '127.0.0.1/32')],
];

/** A value the schema accepts (as far as a schema says: a valid id names nothing that exists). */
export function validValue(schema: Schema, name = '', depth = 0): fc.Arbitrary<unknown> {
  const branches = schema.anyOf ?? schema.oneOf ?? schema.allOf;
  if (branches) return fc.oneof(...branches.map((s) => validValue(s, name, depth)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.const !== undefined) return fc.constant(schema.const);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? 0;
      return fc.integer({ min, max: Math.max(min, Math.min(schema.maximum ?? min + 100, min + 1000)) });
    }
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const min = Math.min(schema.minItems ?? 0, 2);
      const items = depth > 4 || !schema.items ? fc.constant('x') : validValue(schema.items, name, depth + 1);
      return fc.array(items, { minLength: min, maxLength: Math.max(min, Math.min(schema.maxItems ?? 2, 2)) });
    }
    case 'string':
      return validString(schema, name);
    default: {
      if (depth > 4 || !schema.properties) return fc.constant({});
      const model = Object.fromEntries(
        Object.entries(schema.properties).map(([k, s]) => [k, validValue(s, k, depth + 1)]),
      );
      return fc.record(model, { requiredKeys: schema.required ?? [] });
    }
  }
}

function validString(schema: Schema, name: string): fc.Arbitrary<string> {
  if (schema.format === 'uuid') return fc.uuid();
  if (schema.format === 'date-time')
    return fc.constantFrom('2026-01-01T00:00:00Z', '2025-06-30T12:30:00.123Z');
  if (schema.format === 'email' || /email address/i.test(schema.description ?? '')) return ADDRESSES;
  if (schema.pattern) {
    const max = schema.maxLength ?? 200;
    return fc.stringMatching(new RegExp(schema.pattern)).filter((v) => v.length <= max);
  }
  const hint = PLAUSIBLE.find(([re]) => re.test(name));
  if (hint) return hint[1];
  const min = Math.min(schema.minLength ?? 1, 20);
  return fc.string({ minLength: min, maxLength: Math.max(min, Math.min(schema.maxLength ?? 20, 20)) });
}

// ---- Hostile framing.

/** Path segments sent as written: broken percent-encoding, traversal, and longer than the router allows. */
// prettier-ignore
const RAW_SEGMENTS = [
  '%', '%zz', '%E0%A4%A', '%C0%AE%C0%AE', '%00', '%2F', '..%2F..', '%2e%2e', '%FF%FE', '%uD800',
  'a'.repeat(101), 'a'.repeat(3000), '%F0%9F%98',
];

/** Query strings added as written. */
// prettier-ignore
const RAW_QUERIES = [
  '%', '%%', 'a=%E0', '&&&', '=', '==', '__proto__[x]=1', 'constructor[prototype][x]=1', 'limit=1&limit=2',
  `${'x'.repeat(1000)}=1`, 'a[b][c][d]=1', 'q=%00', '\u00ff=\u00ff',
];

// prettier-ignore
const CONTENT_TYPES = [
  'text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
  'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/vnd.api+json',
  'application/json, text/plain', ';;;', 'x'.repeat(300), '',
];

/** Bodies that are not what any schema describes. */
// prettier-ignore
const RAW_BODIES = [
  '', '{', '{"a":', '\u0000', 'null', '[]', '"x"', '1e309', '{"__proto__":{"x":1}}',
  '{"constructor":{"prototype":{"x":1}}}', '{"a":1,"a":2}', `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
  `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`, `{"pad":"${'x'.repeat(300_000)}"}`, '\uFEFF{}',
  '{"a":"\\ud800"}', '{"a":"\\u0000"}',
];

/** Headers anyone could send; one far over the size a server accepts. */
const RAW_HEADERS: Record<string, string>[] = [
  { expect: '100-continue' },
  { expect: 'nothing-you-know' },
  { 'x-request-id': 'bad id\twith tab' },
  { 'x-request-id': 'x'.repeat(100) },
  { origin: 'null' },
  { origin: 'https://evil.example' },
  { 'content-encoding': 'gzip' },
  { 'accept-language': `${'x'.repeat(200)};q=2` },
  { 'x-forwarded-for': '::1, 127.0.0.1, junk' },
  { accept: 'text/html' },
  { 'x-padding': 'x'.repeat(20_000) },
];

/** Percent-encodes the UTF-8 of a value (a lone surrogate becomes U+FFFD, as any client sends it). */
function encode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A header value as Node's client sends it: the UTF-8 bytes as Latin-1, control characters gone. */
function headerValue(value: string): string {
  return Buffer.from(value, 'utf8')
    .toString('latin1')
    .replace(/[^\t\x20-\x7e\x80-\xff]/g, '');
}

const hostileAuth = fc.oneof(
  hostileString.map((v) => ({ header: 'authorization' as const, value: headerValue(`Bearer ${v}`) })),
  fc.constantFrom(
    { header: 'authorization' as const, value: 'Bearer spk_00000000_x' },
    { header: 'authorization' as const, value: `Bearer spk_${'a'.repeat(5000)}_b` },
    { header: 'authorization' as const, value: 'Basic YTpi' },
    { header: 'authorization' as const, value: 'Bearer' },
  ),
  hostileString.map((v) => ({ header: 'cookie' as const, value: `sealpost_staff=${encode(v)}` })),
  hostileString.map((v) => ({ header: 'cookie' as const, value: headerValue(`sealpost_staff=${v}`) })),
);

// ---- Requests.

export type Credential = 'owner' | 'session' | 'none' | 'hostile';

/** A request to send; `credential` is resolved against live credentials when it is sent. */
export interface FuzzRequest {
  operation: Operation;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  credential: Credential;
  /** For `hostile`: the Authorization or Cookie header it carries. */
  hostileAuth?: { header: 'authorization' | 'cookie'; value: string };
}

/** The one change made to an otherwise valid request. */
type Mutation =
  | { kind: 'value'; slot: number; value: unknown }
  | { kind: 'segment'; slot: number; raw: string }
  | { kind: 'query'; raw: string }
  | { kind: 'content-type'; type: string }
  | { kind: 'body'; raw: string }
  | { kind: 'header'; headers: Record<string, string> }
  | { kind: 'none' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({ kind: fc.constant('value' as const), slot: fc.nat(), value: hostileValue }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('segment' as const),
      slot: fc.nat(),
      raw: fc.constantFrom(...RAW_SEGMENTS),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('query' as const), raw: fc.constantFrom(...RAW_QUERIES) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('content-type' as const),
      type: fc.constantFrom(...CONTENT_TYPES),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('body' as const), raw: fc.constantFrom(...RAW_BODIES) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('header' as const), headers: fc.constantFrom(...RAW_HEADERS) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
);

type Path = (string | number)[];

/** Every place in a JSON value that a hostile value can take, the value itself first. */
function places(value: unknown, at: Path = []): Path[] {
  const found: Path[] = [at];
  if (Array.isArray(value)) value.forEach((v, i) => found.push(...places(v, [...at, i])));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) found.push(...places(v, [...at, k]));
    found.push([...at, '\u0000unknown']); // a field the schema does not name
  }
  return found;
}

function replaced(value: unknown, path: Path, by: unknown): unknown {
  if (path.length === 0) return by;
  const [head, ...rest] = path;
  if (Array.isArray(value)) return value.map((v, i) => (i === head ? replaced(v, rest, by) : v));
  const key = head === '\u0000unknown' ? 'unknown_field' : (head as string);
  return { ...(value as object), [key]: replaced((value as Record<string, unknown>)[key], rest, by) };
}

/** A hostile request for one operation. */
export function requestFor(op: Operation): fc.Arbitrary<FuzzRequest> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const headerParams = op.parameters.filter((p) => p.in === 'header');
  const valid = (p: Parameter) => validValue(p.schema ?? { type: 'string' }, p.name);

  return fc
    .record({
      path: fc.tuple(...pathParams.map(valid)),
      query: fc.tuple(...queryParams.map((p) => fc.option(valid(p), { freq: 2 }))),
      headers: fc.tuple(...headerParams.map((p) => fc.option(valid(p), { freq: 2 }))),
      body: op.body ? validValue(op.body) : fc.constant(undefined),
      mutation,
      credential: fc.constantFrom<Credential>(
        'owner',
        'owner',
        'owner',
        'session',
        'session',
        'none',
        'hostile',
      ),
      auth: hostileAuth,
    })
    .map((g) => {
      const path = [...g.path] as unknown[];
      const query = [...g.query] as unknown[];
      const header = [...g.headers] as unknown[];
      let body = g.body;
      const m = g.mutation;
      // The slots a value mutation can take: each parameter, then each place in the body.
      const bodyPlaces = body === undefined ? [] : places(body);
      const slots = path.length + query.length + header.length + bodyPlaces.length;
      if (m.kind === 'value' && slots > 0) {
        let slot = m.slot % slots;
        if (slot < path.length) path[slot] = m.value;
        else if ((slot -= path.length) < query.length) query[slot] = m.value;
        else if ((slot -= query.length) < header.length) header[slot] = m.value;
        else body = replaced(body, bodyPlaces[slot - header.length]!, m.value);
      }

      const segments = path.map((v) => encode(asText(v)));
      if (m.kind === 'segment' && segments.length > 0) segments[m.slot % segments.length] = m.raw;
      let url = op.path;
      pathParams.forEach((p, i) => (url = url.replace(`{${p.name}}`, () => segments[i]!)));
      const pairs: string[] = [];
      queryParams.forEach((p, i) => {
        const value = query[i];
        if (value !== null && value !== undefined) pairs.push(`${encode(p.name)}=${encode(asText(value))}`);
      });
      if (m.kind === 'query') pairs.push(m.raw);
      if (pairs.length) url += `?${pairs.join('&')}`;

      const headers: Record<string, string> = { accept: 'application/json' };
      headerParams.forEach((p, i) => {
        const value = header[i];
        if (value !== null && value !== undefined) headers[p.name] = headerValue(asText(value));
      });
      if (m.kind === 'header') Object.assign(headers, m.headers);

      const request: FuzzRequest = {
        operation: op,
        method: op.method,
        path: url,
        headers,
        credential: g.credential,
      };
      if (m.kind === 'body') request.body = m.raw;
      else if (body !== undefined) request.body = toJson(body);
      if (request.body !== undefined)
        headers['content-type'] = m.kind === 'content-type' ? m.type : 'application/json';
      if (g.credential === 'hostile') request.hostileAuth = g.auth;
      return request;
    });
}

/** A request as a line of text for a failure report, long values cut. */
export function describeRequest(r: FuzzRequest): string {
  const cut = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…(${s.length} chars)` : s);
  const headers = Object.entries(r.headers)
    .map(([k, v]) => `${k}: ${cut(JSON.stringify(v))}`)
    .join('; ');
  const auth = r.hostileAuth ? ` ${r.hostileAuth.header}: ${cut(JSON.stringify(r.hostileAuth.value))}` : '';
  const body = r.body === undefined ? '' : ` body ${cut(JSON.stringify(r.body))}`;
  return `${r.method} ${cut(r.path)} [${r.credential}${auth}] {${headers}}${body}`;
}
