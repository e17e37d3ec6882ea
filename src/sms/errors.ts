import { SealpostError } from '../errors/index.ts';

export type SmsErrorCode =
  | 'sms_not_configured'
  | 'sms_invalid_number'
  | 'sms_invalid_message'
  | 'sms_auth_failed'
  | 'sms_rejected'
  | 'sms_rate_limited'
  | 'sms_carrier_error'
  | 'sms_unreachable'
  | 'sms_timeout'
  | 'sms_bad_answer';

/**
 * A text that was not sent. `retryable`: the carrier was unreachable, slow, overloaded (5xx) or
 * rate-limiting (429), so the same text may go through later; otherwise (a bad number, bad
 * credentials, SMS not configured) sending it again fails again. Messages never hold the number.
 */
export class SmsError extends SealpostError {
  readonly retryable: boolean;
  /** The carrier's HTTP status, when it answered. */
  readonly carrierStatus: number | undefined;
  /** The carrier's own error code (Twilio's `code`, e.g. 21211), when it gave one. */
  readonly carrierCode: number | undefined;
  /** Seconds the carrier asked to wait (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: SmsErrorCode,
    message: string,
    options: {
      retryable: boolean;
      status?: number;
      carrierStatus?: number;
      carrierCode?: number;
      retryAfterSeconds?: number;
    },
  ) {
    super(code, message, {
      status: options.status ?? (options.retryable ? 503 : 502),
      details: {
        retryable: options.retryable,
        ...(options.carrierStatus !== undefined && { carrier_status: options.carrierStatus }),
        ...(options.carrierCode !== undefined && { carrier_code: options.carrierCode }),
      },
    });
    this.name = 'SmsError';
    this.retryable = options.retryable;
    this.carrierStatus = options.carrierStatus;
    this.carrierCode = options.carrierCode;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}
