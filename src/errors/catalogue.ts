// Every code Sealpost refuses with: clients match on the code, so each is written here once, with
// the HTTP status the API answers it with, the SMTP reply the gateway gives where the refusal can
// meet a message arriving by SMTP, and one line saying what it means. docs/errors.md and the
// OpenAPI problem schema are generated from this list.

/** An SMTP reply: the basic code and the enhanced status code (RFC 3463). */
export interface SmtpReply {
  readonly code: number;
  readonly enhanced: string;
}

export interface CatalogueEntry {
  /** The HTTP status of the problem answer. */
  readonly status: number;
  /** Other statuses the same refusal answers with where it meets a different request. */
  readonly also?: readonly number[];
  /** The SMTP gateway's reply; absent where the refusal belongs to HTTP or the console only. */
  readonly smtp?: SmtpReply;
  readonly description: string;
}

const SMTP = {
  content: { code: 550, enhanced: '5.6.0' },
  credentials: { code: 535, enhanced: '5.7.8' },
  tooLarge: { code: 552, enhanced: '5.3.4' },
  slowDown: { code: 451, enhanced: '4.7.1' },
  tryLater: { code: 451, enhanced: '4.3.0' },
} as const satisfies Record<string, SmtpReply>;

export const catalogue = {
  // Requests, as HTTP and the framework see them
  bad_request: {
    status: 400,
    smtp: SMTP.content,
    description: 'The request is not acceptable as sent; the status is 400 or the 4xx the framework gave.',
  },
  invalid_request: {
    status: 400,
    description: 'The request breaks its schema; `errors` names each place, as `body/to/0`.',
  },
  invalid_json: { status: 400, description: 'The request body is not valid JSON.' },
  invalid_url: { status: 400, description: 'The request path is not valid percent-encoded UTF-8.' },
  malformed_request: { status: 400, description: 'The request is not valid HTTP.' },
  request_timeout: { status: 408, description: 'The request did not arrive in time.' },
  body_too_large: { status: 413, description: 'The request body is larger than this server accepts.' },
  uri_too_long: {
    status: 414,
    description: 'A part of the request path is longer than any identifier this API uses.',
  },
  unsupported_media_type: {
    status: 415,
    description: 'The request body has a content type this route does not take.',
  },
  expectation_failed: {
    status: 417,
    description: 'The request has an `Expect` header other than `100-continue`.',
  },
  headers_too_large: {
    status: 431,
    description: 'The request line and headers are larger than this server accepts.',
  },
  not_found: { status: 404, description: 'The resource or route does not exist, or is not yours to see.' },
  validation_failed: {
    status: 422,
    smtp: SMTP.content,
    description: 'The request is well formed but its content is refused; `errors` says why where it can.',
  },
  rate_limited: {
    status: 429,
    smtp: SMTP.slowDown,
    description: 'Too many requests for this credential: retry after the `Retry-After` seconds.',
  },
  internal_error: {
    status: 500,
    smtp: SMTP.tryLater,
    description: 'Something went wrong on our side; the request id finds it in the log.',
  },
  unavailable: {
    status: 503,
    smtp: SMTP.tryLater,
    description: 'A service this request needs is not available now: retry later.',
  },
  not_ready: { status: 503, description: 'The server is not ready to serve (the readiness check failed).' },
  console_not_built: { status: 503, description: 'The console was not built into this installation.' },

  // Credentials, sessions and access
  unauthorized: {
    status: 401,
    smtp: SMTP.credentials,
    description: 'A valid API key or session is required.',
  },
  invalid_credentials: {
    status: 401,
    smtp: SMTP.credentials,
    description: 'The email address or password is not right.',
  },
  forbidden: {
    status: 403,
    smtp: SMTP.credentials,
    description: 'The credential does not carry the permission this action needs.',
  },
  csrf_failed: {
    status: 403,
    description: 'A request made with the session cookie must be same-origin and carry `X-CSRF-Token`.',
  },
  network_not_allowed: {
    status: 403,
    smtp: SMTP.credentials,
    description: "The organisation's access policy does not allow access from this network address.",
  },
  reauthentication_required: {
    status: 403,
    description: 'The action needs a recent sign-in: re-authenticate and try again.',
  },
  second_factor_required: {
    status: 403,
    description: 'The sign-in is not complete: prove the second factor first.',
  },
  enrolment_required: {
    status: 403,
    description: 'The organisation requires a second factor: enrol one first.',
  },
  sso_required: {
    status: 403,
    also: [409],
    description:
      'The organisation signs in with single sign-on only (409 when accepting an invitation with a password).',
  },
  sign_in_throttled: {
    status: 429,
    description: 'Too many failed sign-ins: wait the `Retry-After` seconds and try again.',
  },
  organization_required: {
    status: 409,
    description: 'The address has accounts in more than one organisation: sign in with `organization_id`.',
  },
  invalid_code: { status: 422, description: 'The one-time code is not right.' },
  challenge_expired: { status: 409, description: 'The passkey request expired: ask for new options.' },
  weak_password: { status: 422, description: 'The password is refused; `problem` says why.' },
  password_too_short: {
    status: 409,
    description: 'The password is shorter than policy allows without a second factor: change it first.',
  },
  totp_exists: { status: 409, description: 'An authenticator app is already enrolled: remove it first.' },
  no_second_factor: {
    status: 409,
    description: 'Recovery codes come with a second factor: enrol one first.',
  },
  factor_required: {
    status: 409,
    description: "The organisation's policy requires this factor: add another before removing it.",
  },
  would_lock_out: {
    status: 409,
    description:
      "The access policy would refuse the caller's own address: include it, or send `force: true`.",
  },

  // Organisations, users, roles, invitations and single sign-on
  slug_taken: { status: 409, description: 'Another organisation uses this slug.' },
  user_exists: { status: 409, description: 'A user with this email address already exists.' },
  user_disabled: { status: 409, description: 'The user is disabled.' },
  self: { status: 409, description: 'An administrator cannot disable or delete their own account.' },
  last_owner: {
    status: 409,
    description: 'The organisation needs an active owner: make another user owner first.',
  },
  role_exists: { status: 409, description: 'A role (built-in or custom) already has this name.' },
  role_in_use: { status: 409, description: 'Users hold this role: give them another before deleting it.' },
  invitation_invalid: {
    status: 404,
    description: 'The invitation link is not valid: expired, used, replaced or never issued.',
  },
  invitation_closed: {
    status: 409,
    description: 'The invitation was already accepted, revoked or replaced.',
  },
  no_sending_domain: {
    status: 409,
    description: "Invitations are mailed from the organisation's sending domain: add and verify one first.",
  },
  sso_domain_taken: {
    status: 409,
    description: 'Another organisation has proven this domain for single sign-on.',
  },
  sso_not_proven: {
    status: 409,
    description:
      'Passwords can be turned off only after a single sign-on with this issuer and client worked.',
  },
  sso_refused: {
    status: 403,
    also: [404, 502],
    description:
      'The single sign-on did not sign you in; `reason` says why (404 for an unknown organisation, 502 when the provider is unreachable).',
  },
  sso_issuer_forbidden: {
    status: 422,
    description: 'The identity provider is on an address the operator does not allow.',
  },

  // Emergency access
  break_glass_not_eligible: {
    status: 403,
    description: 'The user is not designated for emergency access in this organisation.',
  },
  break_glass_active: { status: 409, description: 'Emergency access is still active in this session.' },
  own_activation: { status: 409, description: 'Another owner must review your own use of emergency access.' },
  already_reviewed: {
    status: 409,
    description: 'The emergency access activation has been reviewed already.',
  },
  already_designated: { status: 409, description: 'The user is designated for emergency access already.' },

  // Messages
  message_too_large: {
    status: 413,
    smtp: SMTP.tooLarge,
    description: 'The message is larger than the organisation accepts.',
  },
  domain_unverified: {
    status: 422,
    smtp: SMTP.content,
    description: 'The sender domain is not a verified sending domain of this organisation.',
  },
  recipients_suppressed: {
    status: 422,
    smtp: SMTP.content,
    description: 'Recipients of the message are suppressed; `recipients` names them.',
  },
  idempotency_key_reused: {
    status: 409,
    description: 'The `Idempotency-Key` was used with another request body: use a new key.',
  },
  recipient_key_exists: {
    status: 409,
    description: 'This encryption key is already on file for this address.',
  },
  portal_closed: {
    status: 409,
    description: 'The recipient can no longer read the message (revoked or expired).',
  },

  // Text messages (SMS)
  sms_invalid_number: {
    status: 422,
    description: 'The phone number is not valid, or the carrier refused it.',
  },
  sms_invalid_message: { status: 422, description: 'The text message is not valid.' },
  sms_not_configured: { status: 501, description: 'SMS is not configured on this Sealpost instance.' },
  sms_auth_failed: { status: 502, description: 'The SMS carrier refused the account and token.' },
  sms_rejected: { status: 502, description: 'The SMS carrier refused the text.' },
  sms_rate_limited: {
    status: 503,
    description: 'The SMS carrier is limiting the rate: the text may be sent later.',
  },
  sms_carrier_error: {
    status: 502,
    also: [503],
    description: 'The SMS carrier failed (503 when it is worth retrying).',
  },
  sms_unreachable: {
    status: 503,
    description: 'The SMS carrier could not be reached: the text may be sent later.',
  },
  sms_timeout: { status: 504, description: 'The SMS carrier did not answer in time.' },
  sms_bad_answer: {
    status: 502,
    also: [503],
    description:
      'The SMS carrier answered with something Sealpost cannot read (503 when it is worth retrying).',
  },

  // Sending domains
  domain_exists: { status: 409, description: 'The domain is already a sending domain.' },
  dkim_rotation_pending: {
    status: 409,
    description: 'A DKIM key rotation of the domain is already pending: publish its records and verify it.',
  },

  // Webhooks
  webhook_url_invalid: { status: 422, description: 'The webhook URL is not an https URL Sealpost can call.' },
  webhook_url_forbidden: {
    status: 422,
    description: 'The webhook URL resolves to an address the operator does not allow.',
  },
  webhook_url_unresolvable: { status: 422, description: "The webhook URL's host does not resolve." },
  webhook_limit: { status: 409, description: 'The organisation has as many webhook endpoints as it may.' },
  webhook_disabled: { status: 409, description: 'The webhook endpoint is disabled: enable it first.' },
  replay_too_large: {
    status: 422,
    description: 'The replay range holds too many events: replay a shorter one.',
  },

  // Reports
  date_out_of_range: { status: 400, description: 'A date lies outside the years a report can cover.' },

  // Keys, audit and the instance
  key_destroyed: {
    status: 410,
    description: "The organisation's keys were destroyed: its sealed data is gone.",
  },
  seal_invalid: {
    status: 500,
    description: 'Sealed data does not open: it was altered or belongs elsewhere.',
  },
  master_key_missing: {
    status: 500,
    description: 'The master key that wraps a key is not available to this process.',
  },
  master_key_in_environment: {
    status: 400,
    description: 'The master key comes from the environment: move it to a key file to rotate it.',
  },
  audit_unavailable: {
    status: 503,
    smtp: SMTP.tryLater,
    description: 'The audit chain could not be written now: retry later.',
  },
  audit_hash_mismatch: {
    status: 500,
    description: 'The database computed another audit hash than Sealpost.',
  },
  audit_event_invalid: {
    status: 500,
    description: 'An audit event was not well formed (a bug, not a request fault).',
  },
  mode_mismatch: {
    status: 409,
    description: 'The database was set up in the other mode (sandbox or production): switch it on purpose.',
  },
} as const satisfies Record<string, CatalogueEntry>;

/** A code Sealpost refuses with; a code outside the catalogue does not compile. */
export type ErrorCode = keyof typeof catalogue;

type Entry<C extends ErrorCode> = (typeof catalogue)[C];

/** The statuses the catalogue lists for a code: its own and those it answers with beyond it. */
export type StatusOf<C extends ErrorCode> = C extends ErrorCode
  ? Entry<C> extends { also: readonly (infer S extends number)[] }
    ? Entry<C>['status'] | S
    : Entry<C>['status']
  : never;

/** The codes that answer 409 Conflict. */
export type ConflictCode = { [C in ErrorCode]: Entry<C>['status'] extends 409 ? C : never }[ErrorCode];

export const errorCodes = Object.keys(catalogue) as ErrorCode[];

export const statusOf = (code: ErrorCode): number => catalogue[code].status;

/** The SMTP gateway's reply for a code, or undefined where it has none. */
export const smtpReplyOf = (code: ErrorCode): SmtpReply | undefined =>
  (catalogue[code] as CatalogueEntry).smtp;
