import { isIP } from 'node:net';
import { type AddressPolicy, guardHost, HostRefused, type Resolve } from '../net-guard/index.ts';

// Webhooks reach only where they should. A webhook URL is the customer's, but the request leaves
// from inside the operator's network: https unless the operator allows http; the host resolved
// and every address checked by the shared guard (src/net-guard), and the request made to the
// address checked (no second lookup that DNS could answer differently); redirects never followed
// (see send.ts).

export interface TargetPolicy extends AddressPolicy {
  /** http:// URLs allowed (development). */
  allowHttp: boolean;
}

export interface Target {
  url: URL;
  /** The host as written (the TLS server name and the Host header), without IPv6 brackets. */
  hostname: string;
  port: number;
  /** The address to connect to: checked, and the only one used. */
  address: string;
  family: 4 | 6;
}

/** Why a URL or its addresses are refused; the message is safe to show the customer. */
export class TargetRefused extends Error {
  readonly code: 'webhook_url_invalid' | 'webhook_url_forbidden' | 'webhook_url_unresolvable';
  constructor(code: TargetRefused['code'], message: string) {
    super(message);
    this.name = 'TargetRefused';
    this.code = code;
  }
}

/** Checks a URL's form: https (or http when allowed), a host, no user name or password. */
export function parseWebhookUrl(raw: string, policy: TargetPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused('webhook_url_invalid', 'The URL is not valid.');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp))
    throw new TargetRefused(
      'webhook_url_invalid',
      policy.allowHttp ? 'The URL must be https:// or http://.' : 'The URL must be https://.',
    );
  if (url.username || url.password)
    throw new TargetRefused('webhook_url_invalid', 'The URL must not hold a user name or password.');
  if (!url.hostname) throw new TargetRefused('webhook_url_invalid', 'The URL has no host.');
  url.hash = '';
  return url;
}

/** The address a request to this URL goes to, after checking the URL and every address of its host. */
export async function resolveTarget(raw: string, policy: TargetPolicy, resolve: Resolve): Promise<Target> {
  const url = parseWebhookUrl(raw, policy);
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  let addresses: string[];
  try {
    addresses = await guardHost(hostname, policy, resolve);
  } catch (err) {
    if (!(err instanceof HostRefused)) throw err;
    throw new TargetRefused(
      err.code === 'forbidden' ? 'webhook_url_forbidden' : 'webhook_url_unresolvable',
      err.message,
    );
  }
  const address = addresses[0]!;
  return { url, hostname, port, address, family: isIP(address) === 6 ? 6 : 4 };
}
