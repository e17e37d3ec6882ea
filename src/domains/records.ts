import { type DkimAlgorithm, dkimRecordValue } from './dkim.ts';

export interface DnsRecord {
  type: 'TXT';
  name: string;
  value: string;
  purpose: 'dkim' | 'spf' | 'dmarc' | 'mta-sts' | 'tls-rpt';
  /** Required records must be published before the domain may send; the others are advice. */
  required: boolean;
}

const DOMAIN = /^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The domain in lower case, or null when it is not a host name with at least two labels. */
export function normalizeDomain(input: string): string | null {
  const domain = input.trim().toLowerCase().replace(/\.$/, '');
  return DOMAIN.test(domain) ? domain : null;
}

/** What the domain's owner publishes: DKIM and SPF are required, DMARC, MTA-STS and TLS-RPT advised. */
export function expectedRecords(
  domain: string,
  keys: { selector: string; algorithm: DkimAlgorithm; publicKey: string }[],
  mailHostname: string,
): DnsRecord[] {
  return [
    ...keys.map((k) => ({
      type: 'TXT' as const,
      name: `${k.selector}._domainkey.${domain}`,
      value: dkimRecordValue(k.algorithm, k.publicKey),
      purpose: 'dkim' as const,
      required: true,
    })),
    { type: 'TXT', name: domain, value: `v=spf1 a:${mailHostname} ~all`, purpose: 'spf', required: true },
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
