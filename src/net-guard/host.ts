import { isIP } from 'node:net';
import { type AddressPolicy, addressRefusal } from './address.ts';
import type { Resolve } from './resolve.ts';

/** Why a host may not be reached; the message names the host and the address, safe to show its owner. */
export class HostRefused extends Error {
  /** forbidden: an address it resolves to is refused; unresolvable: DNS gave no address. */
  readonly code: 'forbidden' | 'unresolvable';
  /** The resolver's error code when DNS gave no address (ENOTFOUND: the name does not exist). */
  readonly dnsCode: string | undefined;

  constructor(code: HostRefused['code'], message: string, dnsCode?: string) {
    super(message);
    this.name = 'HostRefused';
    this.code = code;
    this.dnsCode = dnsCode;
  }
}

/**
 * Every address of a host, each checked against the policy: one refused address refuses the whole
 * host (a name that mixes public and private answers is how rebinding attacks start). The caller
 * connects to these addresses and no others, so no second lookup can answer differently.
 */
export async function guardHost(
  hostname: string,
  policy: AddressPolicy,
  resolve: Resolve,
): Promise<string[]> {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    const refusal = addressRefusal(host, policy);
    if (refusal) throw new HostRefused('forbidden', `The address ${host} is ${refusal}.`);
    return [host];
  }
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HostRefused(
      'unresolvable',
      `The host ${host} does not resolve${code ? ` (${code})` : ''}.`,
      code,
    );
  }
  if (addresses.length === 0)
    throw new HostRefused('unresolvable', `The host ${host} has no address.`, 'ENODATA');
  for (const address of addresses) {
    const refusal = addressRefusal(address, policy);
    if (refusal) throw new HostRefused('forbidden', `The host ${host} resolves to ${address}, ${refusal}.`);
  }
  return addresses;
}
