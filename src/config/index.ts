import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { type Setting, settings } from './schema.ts';

export { settings } from './schema.ts';

export interface Config {
  dataDir: string;
  databaseUrl?: string;
  databasePoolSize: number;
  httpHost: string;
  httpPort: number;
  publicUrl: string;
  masterKeyFile: string;
  masterKey?: string;
  auditSigningKeyFile?: string;
  auditCheckpointMinutes: number;
  httpBodyLimit: number;
  rateLimitPerKey: number;
  rateLimitPerAddress: number;
  trustProxy: boolean;
  logLevel: string;
  metricsToken?: string;
  workerConcurrency: number;
  dnsServers?: string[];
  mailHostname: string;
  outboundAddresses?: string[];
  fetchPrivateRanges?: string[];
  mode: 'sandbox' | 'production';
  deliveryPort: number;
  extraCaFile?: string;
  messageMaxBytes: number;
  deliveryLifetimeHours: number;
  deliveryRetrySeconds: number;
  deliveryConcurrency: number;
  deliveryLeaseSeconds: number;
  deliveryHeartbeatSeconds: number;
  portalExpiryDays: number;
  portalIdleMinutes: number;
  portalSessionMinutes: number;
  portalCodeMinutes: number;
  portalMaxFailures: number;
  portalUploadMaxBytes: number;
  queueSuperviseSeconds: number;
  firstOrgName: string;
  firstAdminEmail: string;
  smsProvider: 'none' | 'twilio-compatible';
  smsApiUrl?: string;
  smsAccount?: string;
  smsToken?: string;
  smsFrom?: string;
  smsTimeoutSeconds: number;
  webhookAllowHttp: boolean;
  webhookAllowPrivate: boolean;
  webhookConnectTimeoutSeconds: number;
  webhookTimeoutSeconds: number;
  webhookRetrySchedule: string;
  webhookDisableAfterHours: number;
  webhookDisableAfterFailures: number;
  webhookConcurrency: number;
  webhookEndpointConcurrency: number;
  webhookLogDays: number;
}

/** Every mistake found in the configuration, one line each, so an operator fixes them in one pass. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Reads the configuration from environment variables, then from the optional JSON file named by
 * SEALPOST_CONFIG_FILE (whose keys are either the variable names or the camelCase keys).
 * Environment variables win over the file.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const problems: string[] = [];
  const fromFile = readConfigFile(env.SEALPOST_CONFIG_FILE, problems);

  const known = new Set(settings.map((s) => s.env));
  known.add('SEALPOST_CONFIG_FILE');
  for (const name of Object.keys(env)) {
    // Test-only and CLI-only variables are namespaced apart so a typo in a real setting is caught.
    if (name.startsWith('SEALPOST_') && !known.has(name) && !name.startsWith('SEALPOST_TEST_')) {
      problems.push(`${name} is not a Sealpost setting (see docs/configuration.md)`);
    }
  }
  for (const name of Object.keys(fromFile)) {
    if (!settings.some((s) => s.env === name || s.key === name)) {
      problems.push(`${name} in ${env.SEALPOST_CONFIG_FILE} is not a Sealpost setting`);
    }
  }

  const config: Record<string, unknown> = {};
  for (const setting of settings) {
    if (setting.key in overrides) {
      config[setting.key] = (overrides as Record<string, unknown>)[setting.key];
      continue;
    }
    let raw: unknown = env[setting.env];
    let source = setting.env;
    if (raw === undefined || raw === '') {
      raw = fromFile[setting.env] ?? fromFile[setting.key];
      source = `${setting.env} (from ${env.SEALPOST_CONFIG_FILE})`;
    }
    if (raw === undefined || raw === '') {
      raw = typeof setting.default === 'function' ? setting.default(config) : setting.default;
      source = `${setting.env} (default)`;
    }
    if (raw === undefined) continue;
    const parsed = parseSetting(setting, String(raw));
    if (typeof parsed === 'string' && parsed.startsWith('!')) {
      problems.push(`${source}: ${parsed.slice(1)}`);
    } else {
      config[setting.key] = parsed;
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return config as unknown as Config;
}

function readConfigFile(path: string | undefined, problems: string[]): Record<string, unknown> {
  if (!path) return {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
    problems.push(`SEALPOST_CONFIG_FILE: ${path} must hold a JSON object`);
  } catch (err) {
    problems.push(`SEALPOST_CONFIG_FILE: cannot read ${path}: ${(err as Error).message}`);
  }
  return {};
}

/** Returns the parsed value, or a string starting with '!' that describes the mistake. */
function parseSetting(setting: Setting, raw: string): unknown {
  const value = raw.trim();
  switch (setting.type) {
    case 'string':
      if (setting.enum && !setting.enum.includes(value)) {
        return `!must be one of ${setting.enum.join(', ')}, not "${value}"`;
      }
      return value;
    case 'path':
      return resolve(value);
    case 'boolean':
      if (['true', '1', 'yes', 'on'].includes(value.toLowerCase())) return true;
      if (['false', '0', 'no', 'off'].includes(value.toLowerCase())) return false;
      return `!must be true or false, not "${value}"`;
    case 'port':
    case 'integer': {
      if (!/^\d+$/.test(value)) return `!must be a whole number, not "${value}"`;
      const n = Number(value);
      const min = setting.type === 'port' ? 0 : (setting.min ?? 0);
      const max = setting.type === 'port' ? 65535 : (setting.max ?? Number.MAX_SAFE_INTEGER);
      if (n < min || n > max) return `!must be between ${min} and ${max}, not ${n}`;
      return n;
    }
    case 'url': {
      try {
        const url = new URL(value);
        if (url.protocol !== 'http:' && url.protocol !== 'https:')
          return '!must be an http:// or https:// URL';
        return value.replace(/\/+$/, '');
      } catch {
        return `!must be a URL such as https://mail.example.org, not "${value}"`;
      }
    }
    case 'postgres-url': {
      try {
        const url = new URL(value);
        if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
          return '!must be a postgres:// URL';
        }
        return value;
      } catch {
        return '!must be a URL such as postgres://user:password@host:5432/sealpost';
      }
    }
    case 'dns-servers': {
      const servers = value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
      const bad = servers.filter(
        (v) => !/^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|\[[0-9a-fA-F:]+\](:\d{1,5})?|[0-9a-fA-F:]+)$/.test(v),
      );
      if (servers.length === 0 || bad.length > 0)
        return `!must list IP addresses with optional ports, not "${bad.join(', ') || value}"`;
      return servers;
    }
    case 'addresses':
    case 'address-ranges': {
      const items = value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
      const bad = items.filter((v) => !isAddressOrRange(v, setting.type === 'address-ranges'));
      if (items.length === 0 || bad.length > 0)
        return setting.type === 'addresses'
          ? `!must list IP addresses (e.g. 192.0.2.10,2001:db8::25), not "${bad.join(', ') || value}"`
          : `!must list address ranges in CIDR form (e.g. 10.20.0.0/16,fd00::/8), not "${bad.join(', ') || value}"`;
      return items;
    }
    case 'key': {
      const bytes = Buffer.from(value, 'base64');
      if (bytes.length !== 32) return `!must be 32 bytes encoded in base64 (got ${bytes.length} bytes)`;
      return value;
    }
  }
}

/** An IPv4 or IPv6 address; with `range`, also one followed by a prefix length (/0-32, /0-128). */
function isAddressOrRange(value: string, range: boolean): boolean {
  const [address = '', bits, ...rest] = value.split('/');
  const family = isIP(address);
  if (!family || rest.length > 0) return false;
  if (bits === undefined) return true;
  return range && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** The configuration with secrets masked, for `sealpost config` and start-up diagnostics. */
export function describeConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of settings) {
    const value = (config as unknown as Record<string, unknown>)[s.key];
    if (value === undefined) continue;
    out[s.key] = s.secret ? '(set)' : value;
  }
  return out;
}
