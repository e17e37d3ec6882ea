// SPF as receivers evaluate it (RFC 7208, with mailauth): the domain's record, its include:,
// redirect=, a, mx, ip4 and ip6 terms followed through DNS, for each address Sealpost sends
// from. A record that does not pass gets a suggestion that does, itself evaluated before it is
// offered.
import type { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { spf } from 'mailauth/lib/spf/index.js';
import { type DnsRecord, type SendingHost, spfTerms } from './records.ts';

export interface SpfResult {
  address: string;
  result: 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'permerror' | 'temperror';
}

export interface SpfCheck {
  status: 'ok' | 'missing' | 'mismatch' | 'error';
  detail?: string;
  spf_results?: SpfResult[];
  suggested_value?: string;
}

type Lookup = (name: string, type: string) => Promise<unknown>;

/** No such name, or no record of that type: an answer, not a failure. */
const NO_ANSWER = new Set(['ENOTFOUND', 'ENODATA']);
/** One evaluation may not take longer (RFC 7208 4.6.4 asks for a limit; 20 s is its advice). */
const EVALUATION_MS = 20_000;

/** Judges the SPF record among the TXT values `found` at the domain, for every sending address. */
export async function checkSpf(
  resolver: Resolver,
  expected: DnsRecord,
  found: string[],
  sender: SendingHost,
): Promise<SpfCheck> {
  const records = found.filter((v) => /^v=spf1(\s|$)/i.test(v));
  if (records.length === 0) return { status: 'missing' };
  if (records.length > 1)
    return {
      status: 'mismatch',
      detail: 'several SPF records: receivers treat that as an error (permerror); merge them into one',
    };
  const addresses = await sendingAddresses(resolver, sender);
  if ('error' in addresses) return { status: 'error', detail: addresses.error };

  const lookup: Lookup = (name, type) => resolver.resolve(name, type);
  const record = records[0]!;
  const results = await evaluate(lookup, expected.name, record, addresses.list, sender.hostname);
  if (results.every((r) => r.result === 'pass')) return { status: 'ok', spf_results: results };
  if (results.some((r) => r.result === 'temperror'))
    return {
      status: 'error',
      detail: `SPF could not be evaluated: DNS failed for ${expected.name} or a name it refers to`,
      spf_results: results,
    };

  const suggested = await suggest(lookup, expected, record, addresses.list, sender);
  const refused = results.filter((r) => r.result !== 'pass');
  const why = refused.some((r) => r.result === 'permerror')
    ? 'the SPF record is broken (permerror: a syntax error, an include: of a domain without SPF, or more than 10 DNS look-ups); receivers treat that as a failure'
    : `the SPF record does not authorise ${refused.map((r) => `${r.address} (${r.result})`).join(', ')}`;
  return {
    status: 'mismatch',
    detail: `${why}; publish instead: ${suggested}`,
    spf_results: results,
    suggested_value: suggested,
  };
}

/** The addresses to evaluate: those configured, the hostname when it is one, else its A and AAAA. */
async function sendingAddresses(
  resolver: Resolver,
  sender: SendingHost,
): Promise<{ list: string[] } | { error: string }> {
  if (sender.addresses.length > 0) return { list: [...sender.addresses] };
  if (isIP(sender.hostname)) return { list: [sender.hostname] };
  const answers = await Promise.allSettled([
    resolver.resolve4(sender.hostname),
    resolver.resolve6(sender.hostname),
  ]);
  const list = answers.flatMap((a) => (a.status === 'fulfilled' ? a.value : []));
  if (list.length > 0) return { list };
  const failed = answers.find(
    (a) => a.status === 'rejected' && !NO_ANSWER.has((a.reason as NodeJS.ErrnoException).code ?? ''),
  ) as PromiseRejectedResult | undefined;
  if (failed)
    return {
      error: `DNS lookup of ${sender.hostname} failed (${(failed.reason as NodeJS.ErrnoException).code ?? 'error'})`,
    };
  return {
    error: `the addresses Sealpost sends from are unknown: ${sender.hostname} (SEALPOST_MAIL_HOSTNAME) has no A or AAAA record; publish one, or list the addresses in SEALPOST_OUTBOUND_ADDRESSES`,
  };
}

/** The result of `record`, published at `domain`, for each address. */
async function evaluate(
  lookup: Lookup,
  domain: string,
  record: string,
  addresses: string[],
  helo: string,
): Promise<SpfResult[]> {
  // The record as found (or as suggested) stands in for the domain's TXT answer; every name it
  // refers to is asked of DNS.
  const resolver: Lookup = (name, type) =>
    type === 'TXT' && name.toLowerCase().replace(/\.$/, '') === domain
      ? Promise.resolve([[record]])
      : lookup(name, type);
  return Promise.all(
    addresses.map(async (address) => {
      const { status } = await spf({
        // Sealpost's envelope sender is bounces+<id>@<domain>: SPF is of the domain.
        sender: `bounces@${domain}`,
        ip: address,
        helo,
        mta: 'sealpost',
        resolver: resolver as Parameters<typeof spf>[0]['resolver'],
        maxElapsedTime: EVALUATION_MS,
      });
      const result = status.result === 'temperr' ? 'temperror' : status.result;
      return { address, result: result as SpfResult['result'] };
    }),
  );
}

/**
 * A record that passes for every address: Sealpost's terms added to the one found before its
 * "all" (or redirect=), else at its front (they then match before look-ups run out), else the
 * expected record on its own (the one found is broken). The first that evaluates to pass.
 */
async function suggest(
  lookup: Lookup,
  expected: DnsRecord,
  record: string,
  addresses: string[],
  sender: SendingHost,
): Promise<string> {
  const terms = spfTerms(sender);
  const parts = record.trim().split(/\s+/);
  const end = parts.findIndex((t) => /^[+?~-]?all$/i.test(t) || /^redirect=/i.test(t));
  const at = end < 0 ? parts.length : end;
  const candidates = [
    [...parts.slice(0, at), ...terms, ...parts.slice(at)].join(' '),
    [parts[0]!, ...terms, ...parts.slice(1)].join(' '),
  ];
  for (const candidate of candidates) {
    const results = await evaluate(lookup, expected.name, candidate, addresses, sender.hostname);
    if (results.every((r) => r.result === 'pass')) return candidate;
  }
  return expected.value;
}
