import { catalogue, type ErrorCode, SealpostError } from '../errors/index.ts';

export type SmsErrorCode = Extract<ErrorCode, `sms_${string}`>;

/**
 * A text that was not sent. `retryable`: the carrier was unreachable, slow, overloaded (5xx) or
 * rate-limiting (429), so the same text may go through later; otherwise (a bad number, bad
 * credentials, SMS not configured) sending it again fails again. Messages never hold the number.
 */
export class SmsError extends SealpostError<SmsErrorCode> {
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
      carrierStatus?: number;
      carrierCode?: number;
      retryAfterSeconds?: number;
    },
  ) {
    super(code, message, {
      // A code the carrier can answer either way is 503 when worth retrying, 502 when not.
      ...('also' in catalogue[code] && options.retryable && { status: 503 as const }),
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
