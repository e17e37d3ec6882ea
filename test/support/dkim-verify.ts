// DKIM verification by an independent implementation: Perl's Mail::DKIM (Debian's
// libmail-dkim-perl), asking the test DNS for the keys. It knows RSA, not Ed25519.
import { execFile } from 'node:child_process';

const SCRIPT = String.raw`
use strict;
use Mail::DKIM::Verifier;
use Mail::DKIM::DNS;
use Net::DNS::Resolver;
my ($host, $port) = split /:/, $ARGV[0];
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(nameservers => [$host], port => $port, udp_timeout => 3, retry => 1));
my $dkim = Mail::DKIM::Verifier->new();
binmode STDIN;
while (<STDIN>) { s/\015?\012/\015\012/; $dkim->PRINT($_); }
$dkim->CLOSE;
foreach my $sig ($dkim->signatures) {
  printf "%s %s %s %s\n", $sig->algorithm, $sig->domain, $sig->result, ($sig->result_detail // '');
}
`;

export interface DkimResult {
  algorithm: string;
  domain: string;
  result: string;
  detail: string;
}

export function verifyDkimIndependently(raw: Buffer, dnsServer: string): Promise<DkimResult[]> {
  return new Promise((resolve, reject) => {
    const child = execFile('perl', ['-e', SCRIPT, dnsServer], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`Mail::DKIM failed: ${stderr || err.message}`));
      resolve(
        stdout
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [algorithm, domain, result, ...detail] = line.split(' ');
            return { algorithm: algorithm!, domain: domain!, result: result!, detail: detail.join(' ') };
          }),
      );
    });
    child.stdin!.end(raw);
  });
}
