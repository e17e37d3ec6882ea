import { Resolver } from 'node:dns/promises';
import type { DnsRecord, SendingHost } from './records.ts';
import { checkSpf, type SpfResult } from './spf.ts';

export interface RecordCheck extends DnsRecord {
  status: 'ok' | 'missing' | 'mismatch' | 'error';
  /** Why it is not ok, for the person publishing it. */
  detail?: string;
  /** The TXT values found at the name. */
  found: string[];
  /** SPF: the record's result for each address Sealpost sends from. */
  spf_results?: SpfResult[];
  /** SPF: a valid record to publish in place of the one found, authorising Sealpost. */
  suggested_value?: string;
}

export interface DomainCheck {
  verified: boolean;
  checked_at: Date;
  records: RecordCheck[];
  /** The names of required records that are not right yet. */
  missing: string[];
}

const NO_RECORD = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);

export function createResolver(servers?: string[], timeoutMs = 3000): Resolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers?.length) resolver.setServers(servers);
  return resolver;
}

function tags(record: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of record.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) map.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).replace(/\s+/g, ''));
  }
  return map;
}

async function judge(
  expected: DnsRecord,
  found: string[],
  resolver: Resolver,
  sender: SendingHost,
): Promise<Pick<RecordCheck, 'status' | 'detail' | 'spf_results' | 'suggested_value'>> {
  switch (expected.purpose) {
    case 'dkim': {
      const want = tags(expected.value);
      const candidates = found.filter((v) => /^\s*v\s*=\s*DKIM1/i.test(v) || /\bp\s*=/.test(v));
      if (candidates.length === 0) return { status: 'missing' };
      const match = candidates.some((v) => {
        const t = tags(v);
        return t.get('p') === want.get('p') && (t.get('k') ?? 'rsa') === want.get('k');
      });
      return match
        ? { status: 'ok' }
        : { status: 'mismatch', detail: 'a DKIM record is there, with another key' };
    }
    case 'spf':
      // Evaluated as receivers do, not matched as text.
      return checkSpf(resolver, expected, found, sender);
    case 'dmarc':
      return found.some((v) => /^v=DMARC1(;|\s|$)/i.test(v)) ? { status: 'ok' } : { status: 'missing' };
    case 'mta-sts':
      return found.some((v) => /^v=STSv1(;|\s|$)/i.test(v)) ? { status: 'ok' } : { status: 'missing' };
    case 'tls-rpt':
      return found.some((v) => /^v=TLSRPTv1(;|\s|$)/i.test(v)) ? { status: 'ok' } : { status: 'missing' };
  }
}

/**
 * The TXT records at a name, each one's strings joined (a long record arrives in 255-byte
 * strings); none when the name has none; the code of a DNS failure otherwise.
 */
export async function lookupTxt(
  resolver: Resolver,
  name: string,
): Promise<{ found: string[]; error?: undefined } | { found: []; error: string }> {
  try {
    return { found: (await resolver.resolveTxt(name)).map((chunks) => chunks.join('')) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return NO_RECORD.has(code) ? { found: [] } : { found: [], error: code };
  }
}

/** Looks every expected record up and says, record by record, what is right and what is not. */
export async function checkDomain(
  resolver: Resolver,
  expected: DnsRecord[],
  sender: SendingHost,
  now: Date = new Date(),
): Promise<DomainCheck> {
  const records = await Promise.all(
    expected.map(async (record): Promise<RecordCheck> => {
      const { found, error } = await lookupTxt(resolver, record.name);
      if (error) return { ...record, status: 'error', detail: `DNS lookup failed (${error})`, found };
      if (found.length === 0) return { ...record, status: 'missing', found };
      return { ...record, ...(await judge(record, found, resolver, sender)), found };
    }),
  );
  const missing = records.filter((r) => r.required && r.status !== 'ok').map((r) => r.name);
  return { verified: missing.length === 0, checked_at: now, records, missing };
}
