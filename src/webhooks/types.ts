import type { AuditInput } from '../audit/index.ts';
import { type Config, ConfigError } from '../config/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import type { Logger } from '../log/index.ts';
import type { JobQueue } from '../queue/index.ts';
import { AddressRanges, type Resolve } from '../net-guard/index.ts';
import type { TargetPolicy } from './guard.ts';
import { parseRetrySchedule } from './schedule.ts';

/** Wakes a worker to send an endpoint what it is owed (one worker per endpoint at a time). */
export const WEBHOOK_QUEUE = 'webhooks.deliver';
/** Every minute: wakes endpoints whose wake-up was lost, and trims the delivery log. */
export const WEBHOOK_SWEEP_QUEUE = 'webhooks.sweep';

export interface WebhookJob {
  org_id: string;
  endpoint_id: string;
}

/** The type of the test event (not a public event type: only the endpoint tested receives it). */
export const TEST_EVENT_TYPE = 'webhook.test';

export interface WebhookSettings {
  policy: TargetPolicy;
  connectTimeoutMs: number;
  timeoutMs: number;
  /** Waits in seconds before each retry. */
  schedule: number[];
  disableAfterHours: number;
  /** 0: off. */
  disableAfterFailures: number;
  /** Endpoints one worker process serves at once. */
  concurrency: number;
  /** Requests in flight to one endpoint. */
  endpointConcurrency: number;
  logDays: number;
  dnsServers?: string[];
  extraCaFile?: string;
}

/** The webhook settings of a configuration; a bad retry schedule is a configuration error. */
export function webhookSettings(config: Config): WebhookSettings {
  let schedule: number[];
  try {
    schedule = parseRetrySchedule(config.webhookRetrySchedule);
  } catch (err) {
    throw new ConfigError([`SEALPOST_WEBHOOK_RETRY_SCHEDULE: ${(err as Error).message}`]);
  }
  return {
    policy: {
      allowHttp: config.webhookAllowHttp,
      allowPrivate: config.webhookAllowPrivate || AddressRanges.parse(config.fetchPrivateRanges ?? []),
      // The sandbox's promise: nothing leaves the machine, so a webhook reaches only loopback.
      loopbackOnly: config.mode === 'sandbox',
    },
    connectTimeoutMs: config.webhookConnectTimeoutSeconds * 1000,
    timeoutMs: config.webhookTimeoutSeconds * 1000,
    schedule,
    disableAfterHours: config.webhookDisableAfterHours,
    disableAfterFailures: config.webhookDisableAfterFailures,
    concurrency: config.webhookConcurrency,
    endpointConcurrency: config.webhookEndpointConcurrency,
    logDays: config.webhookLogDays,
    ...(config.dnsServers ? { dnsServers: config.dnsServers } : {}),
    ...(config.extraCaFile ? { extraCaFile: config.extraCaFile } : {}),
  };
}

export interface WebhookDeps {
  db: Db;
  keyring: Keyring;
  queue: JobQueue;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  clock: () => Date;
  log: Logger;
  settings: WebhookSettings;
  /** Host name to addresses (tests hand in their own). */
  resolve: Resolve;
}

export const SYSTEM_ACTOR = { type: 'system' as const, id: 'webhooks', label: 'webhooks' };
