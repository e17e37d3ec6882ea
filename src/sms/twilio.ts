import { SmsError } from './errors.ts';
import { checkMessage } from './message.ts';
import type { SmsMessage, SmsResult, SmsSender } from './types.ts';

// A client for the Twilio Messages REST API, which many carriers and gateways speak:
// POST {apiUrl}/2010-04-01/Accounts/{account}/Messages.json, HTTP basic authentication
// (account:token), a form body with To, From and Body; the answer is JSON with the message's `sid`.
// One request per text, nothing retried here: the caller decides from SmsError.retryable.

export interface TwilioCompatibleOptions {
  /** e.g. https://api.twilio.com (no trailing path). */
  apiUrl: string;
  account: string;
  token: string;
  /** A number in E.164 or an alphanumeric sender id. */
  from: string;
  /** Whole request, connection to last byte of the answer. Default 10 s. */
  timeoutMs?: number;
  /** The largest answer read. Default 64 KiB. */
  maxResponseBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** The Messages endpoint for an account under a base URL. */
export function messagesUrl(apiUrl: string, account: string): URL {
  const base = apiUrl.replace(/\/+$/, '');
  return new URL(`${base}/2010-04-01/Accounts/${encodeURIComponent(account)}/Messages.json`);
}

export class TwilioCompatibleSender implements SmsSender {
  private readonly url: URL;
  private readonly authorization: string;
  private readonly from: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(options: TwilioCompatibleOptions) {
    this.url = messagesUrl(options.apiUrl, options.account);
    this.authorization = `Basic ${Buffer.from(`${options.account}:${options.token}`).toString('base64')}`;
    this.from = options.from;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  async send(message: SmsMessage): Promise<SmsResult> {
    const { to, body } = checkMessage(message);
    const signal = AbortSignal.timeout(this.timeoutMs);
    let status: number;
    let answer: string;
    let retryAfter: string | null;
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: {
          authorization: this.authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ To: to, From: this.from, Body: body }).toString(),
        redirect: 'manual',
        signal,
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      answer = await readCapped(response, this.maxResponseBytes);
    } catch (err) {
      throw this.transportError(err, signal);
    }
    if (status >= 200 && status < 300) {
      const sid = parseJson(answer)?.sid;
      if (typeof sid !== 'string' || sid === '')
        throw new SmsError(
          'sms_bad_answer',
          `The SMS carrier at ${this.url.host} answered ${status} without a message id (sid); the text may have been sent.`,
          { retryable: false, carrierStatus: status },
        );
      return { providerId: sid };
    }
    throw carrierError(this.url.host, status, answer, retryAfter);
  }

  private transportError(err: unknown, signal: AbortSignal): SmsError {
    if (err instanceof SmsError) return err;
    const name = (err as { name?: string } | null)?.name;
    if (signal.aborted || name === 'TimeoutError' || name === 'AbortError')
      return new SmsError(
        'sms_timeout',
        `The SMS carrier at ${this.url.host} did not answer within ${this.timeoutMs} ms.`,
        { retryable: true },
      );
    const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
    const why = cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
    return new SmsError(
      'sms_unreachable',
      `The SMS carrier at ${this.url.host} could not be reached (${why}).`,
      {
        retryable: true,
      },
    );
  }
}

/** The answer as text, refusing one larger than `max` bytes without reading the rest. */
async function readCapped(response: Response, max: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge(response.status, max);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge(response.status, max);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const tooLarge = (status: number, max: number) =>
  new SmsError('sms_bad_answer', `The SMS carrier's answer (${status}) is larger than ${max} bytes.`, {
    // A 2xx may mean the text went out: sending it again would send it twice.
    retryable: status >= 500 || status === 429,
    carrierStatus: status,
  });

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function retryAfterSeconds(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

// Twilio's codes for a bad recipient: 21211 invalid To, 21614 not a mobile number, 21610
// unsubscribed (STOP), 21612 unreachable by this sender, 21408 region not enabled.
const NUMBER_CODES = new Set([21211, 21614, 21610, 21612, 21408]);

/**
 * An error from a non-2xx answer. The carrier's own message is left out: it usually quotes the
 * number, and the error is logged. Its numeric code says enough.
 */
function carrierError(host: string, status: number, answer: string, retryAfter: string | null): SmsError {
  const json = parseJson(answer);
  const code = typeof json?.code === 'number' && Number.isInteger(json.code) ? json.code : undefined;
  const common = { carrierStatus: status, carrierCode: code };
  const codeText = code === undefined ? '' : `, code ${code}`;
  if (status === 429)
    return new SmsError(
      'sms_rate_limited',
      `The SMS carrier at ${host} is limiting the rate (429${codeText}).`,
      {
        retryable: true,
        retryAfterSeconds: retryAfterSeconds(retryAfter),
        ...common,
      },
    );
  if (status >= 500)
    return new SmsError('sms_carrier_error', `The SMS carrier at ${host} failed (${status}${codeText}).`, {
      retryable: true,
      retryAfterSeconds: retryAfterSeconds(retryAfter),
      ...common,
    });
  if (status === 401 || status === 403)
    return new SmsError(
      'sms_auth_failed',
      `The SMS carrier at ${host} refused the account and token (${status}${codeText}): check SEALPOST_SMS_ACCOUNT and SEALPOST_SMS_TOKEN.`,
      { retryable: false, ...common },
    );
  if (status >= 300 && status < 400)
    return new SmsError(
      'sms_carrier_error',
      `The SMS carrier at ${host} answered with a redirect (${status}), which is not followed: check SEALPOST_SMS_API_URL.`,
      { retryable: false, ...common },
    );
  if (code !== undefined && NUMBER_CODES.has(code))
    return new SmsError(
      'sms_invalid_number',
      `The SMS carrier refused the phone number (${status}${codeText}).`,
      { retryable: false, ...common },
    );
  return new SmsError('sms_rejected', `The SMS carrier at ${host} refused the text (${status}${codeText}).`, {
    retryable: false,
    ...common,
  });
}
