import { isIP } from 'node:net';
import { type DkimAlgorithm, type DkimKeyStatus, dkimRecordValue } from './dkim.ts';

export interface DnsRecord {
  type: 'TXT';
  name: string;
  value: string;
  purpose: 'dkim' | 'spf' | 'dmarc' | 'mta-sts' | 'tls-rpt';
  /** Required records must be published before the domain may send; the others are advice. */
  required: boolean;
  /** A retired DKIM key's record may be deleted from this time on (and is no longer listed then). */
  remove_after?: Date;
  /** What to do with the record, when that is not the obvious "publish it". */
  note?: string;
}

/** Where Sealpost's mail comes from: what a sending domain's SPF record must authorise. */
export interface SendingHost {
  /** SEALPOST_MAIL_HOSTNAME: the HELO name. */
  hostname: string;
  /** SEALPOST_OUTBOUND_ADDRESSES; empty when they are the hostname's A and AAAA addresses. */
  addresses: readonly string[];
}

/**
 * The SPF mechanisms that authorise Sealpost: ip4:/ip6: for addresses (listed, or a hostname that
 * is an address literal), a:<name> for a host name, which follows its addresses when they change.
 */
export function spfTerms(sender: SendingHost): string[] {
  const ip = (address: string) => `${isIP(address) === 6 ? 'ip6' : 'ip4'}:${address}`;
  if (sender.addresses.length > 0) return sender.addresses.map(ip);
  return [isIP(sender.hostname) ? ip(sender.hostname) : `a:${sender.hostname}`];
}

/** The DKIM key of a domain as its DNS record shows it. */
export interface PublishedKey {
  selector: string;
  algorithm: DkimAlgorithm;
  publicKey: string;
  status: DkimKeyStatus;
  retiredAt: Date | null;
}

/**
 * How long a retired key's record stays published: mail signed just before a rotation may sit
 * in queues and be verified by receivers for days after it.
 */
const RETIRED_KEY_OVERLAP_DAYS = 7;

const DOMAIN = /^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The domain in lower case, or null when it is not a host name with at least two labels. */
export function normalizeDomain(input: string): string | null {
  const domain = input.trim().toLowerCase().replace(/\.$/, '');
  return DOMAIN.test(domain) ? domain : null;
}

export const dkimRecordName = (domain: string, selector: string) => `${selector}._domainkey.${domain}`;

const removeAfter = (retiredAt: Date) =>
  new Date(retiredAt.getTime() + RETIRED_KEY_OVERLAP_DAYS * 86_400_000);

function dkimRecord(domain: string, key: PublishedKey): DnsRecord {
  const record: DnsRecord = {
    type: 'TXT',
    name: dkimRecordName(domain, key.selector),
    value: dkimRecordValue(key.algorithm, key.publicKey),
    purpose: 'dkim',
    required: key.status !== 'retired',
  };
  if (key.status === 'pending') {
    record.note = 'A new key: it starts signing once a verification finds this record.';
  } else if (key.status === 'retired' && key.retiredAt) {
    record.remove_after = removeAfter(key.retiredAt);
    record.note = `A retired key: keep this record until ${record.remove_after.toISOString()} so mail signed before the rotation still verifies, then remove it.`;
  }
  return record;
}

/**
 * What the domain's owner publishes: DKIM (pending and active keys) and SPF are required;
 * DMARC, MTA-STS and TLS-RPT advised. A retired DKIM key is listed, not required, until its
 * record may be removed.
 */
export function expectedRecords(
  domain: string,
  keys: PublishedKey[],
  sender: SendingHost,
  now: Date,
): DnsRecord[] {
  const listed = keys.filter((k) => !k.retiredAt || removeAfter(k.retiredAt) > now);
  return [
    ...listed.map((k) => dkimRecord(domain, k)),
    {
      type: 'TXT',
      name: domain,
      value: `v=spf1 ${spfTerms(sender).join(' ')} ~all`,
      purpose: 'spf',
      required: true,
      note: 'One SPF record per domain: if the domain has one already, add these mechanisms to it before its "all" (verification suggests the merged record).',
    },
    {
      type: 'TXT',
      name: `_dmarc.${domain}`,
      value: `v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@${domain}`,
      purpose: 'dmarc',
      required: false,
    },
    {
      type: 'TXT',
      name: `_mta-sts.${domain}`,
      value: 'v=STSv1; id=1',
      purpose: 'mta-sts',
      required: false,
    },
    {
      type: 'TXT',
      name: `_smtp._tls.${domain}`,
      value: `v=TLSRPTv1; rua=mailto:tls-reports@${domain}`,
      purpose: 'tls-rpt',
      required: false,
    },
  ];
}
