import { isIP } from 'node:net';
import { type Config, ConfigError } from '../config/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Queryable } from '../db/index.ts';
import { SmsError } from './errors.ts';
import { normalizePhone } from './phone.ts';
import { SandboxSmsSender } from './sandbox.ts';
import { TwilioCompatibleSender } from './twilio.ts';
import type { SmsMessage, SmsResult, SmsSender } from './types.ts';

export type SmsConfig = Pick<
  Config,
  'smsProvider' | 'smsApiUrl' | 'smsAccount' | 'smsToken' | 'smsFrom' | 'smsTimeoutSeconds'
>;

export interface SmsDeps {
  db: Queryable;
  keyring: Keyring;
  /** Texts are captured (listSandboxSms), never sent, whatever the provider. */
  sandbox: boolean;
}

const REQUIRED = [
  ['smsApiUrl', 'SEALPOST_SMS_API_URL'],
  ['smsAccount', 'SEALPOST_SMS_ACCOUNT'],
  ['smsToken', 'SEALPOST_SMS_TOKEN'],
  ['smsFrom', 'SEALPOST_SMS_FROM'],
] as const;

// An alphanumeric sender id (GSM 03.40: up to 11 characters, at least one letter).
const SENDER_ID = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;

/** Every mistake in the SMS settings, one line each (as loadConfig reports the others). */
export function smsConfigProblems(config: SmsConfig): string[] {
  if (config.smsProvider !== 'twilio-compatible') return [];
  const problems: string[] = [];
  for (const [key, env] of REQUIRED) {
    if (!config[key]) problems.push(`${env} is required when SEALPOST_SMS_PROVIDER is twilio-compatible`);
  }
  if (config.smsApiUrl) {
    const problem = apiUrlProblem(config.smsApiUrl);
    if (problem) problems.push(`SEALPOST_SMS_API_URL: ${problem}`);
  }
  if (config.smsAccount?.includes(':'))
    problems.push(
      'SEALPOST_SMS_ACCOUNT: must not contain ":" (it is the user name of HTTP basic authentication)',
    );
  if (config.smsFrom && !SENDER_ID.test(config.smsFrom)) {
    try {
      normalizePhone(config.smsFrom);
    } catch (err) {
      problems.push(
        `SEALPOST_SMS_FROM: must be a phone number in international form (+15550100123) or an alphanumeric sender id of up to 11 characters (${(err as Error).message})`,
      );
    }
  }
  return problems;
}

function apiUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be a URL such as https://api.twilio.com, not "${value}"`;
  }
  if (url.username || url.password)
    return 'must not hold credentials: they go in SEALPOST_SMS_ACCOUNT and SEALPOST_SMS_TOKEN';
  if (url.search || url.hash) return 'must not have a query or a fragment';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return undefined;
  return 'must be https:// (the token travels in every request); http:// only on a loopback address';
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Used when SEALPOST_SMS_PROVIDER is none: every text fails, saying why. */
export class NotConfiguredSmsSender implements SmsSender {
  async send(_message: SmsMessage): Promise<SmsResult> {
    throw new SmsError(
      'sms_not_configured',
      'SMS is not configured on this Sealpost instance (SEALPOST_SMS_PROVIDER is none): set SEALPOST_SMS_PROVIDER=twilio-compatible and its settings to send text messages.',
      { retryable: false },
    );
  }
}

/**
 * The sender for this instance: the sandbox capture in sandbox mode, otherwise the configured
 * provider. Throws a ConfigError naming every mistake in the SMS settings (in any mode), so call
 * it at start-up.
 */
export function createSmsSender(config: SmsConfig, deps: SmsDeps): SmsSender {
  const problems = smsConfigProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  if (deps.sandbox) return new SandboxSmsSender(deps.db, deps.keyring);
  if (config.smsProvider === 'twilio-compatible')
    return new TwilioCompatibleSender({
      apiUrl: config.smsApiUrl!,
      account: config.smsAccount!,
      token: config.smsToken!,
      from: config.smsFrom!,
      timeoutMs: config.smsTimeoutSeconds * 1000,
    });
  return new NotConfiguredSmsSender();
}
