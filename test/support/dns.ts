// A DNS server on loopback that answers TXT, MX, A and AAAA questions from a zone the test fills
// in. A name with no records at all is NXDOMAIN; a name with records of other types answers
// with no data, as a real server does.
import dns2 from 'dns2';

const { Packet } = dns2;

export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface TestDns {
  /** host:port, for SEALPOST_DNS_SERVERS. */
  server: string;
  /** Sets the TXT records of a name (an empty list removes them). */
  setTxt(name: string, values: string[]): void;
  /** Sets the MX records of a name (an empty list removes them). */
  setMx(name: string, records: MxRecord[]): void;
  /** Publishes the null MX of RFC 7505 (`0 .`): the domain accepts no mail. */
  setNullMx(name: string): void;
  /** Sets the IPv4 addresses of a name (an empty list removes them). */
  setA(name: string, addresses: string[]): void;
  /** Sets the IPv6 addresses of a name (an empty list removes them). */
  setAaaa(name: string, addresses: string[]): void;
  /** Makes every question about a name fail: SERVFAIL, or no answer at all. */
  setFailure(name: string, failure: 'servfail' | 'timeout' | null): void;
  /** Removes every record of a name, which makes it NXDOMAIN again. */
  remove(name: string): void;
  /** How many questions of a type were asked about a name (type: 'MX', 'A', 'TXT', ...). */
  queries(name: string, type: string): number;
  close(): Promise<void>;
}

interface Node {
  txt?: string[];
  mx?: MxRecord[];
  a?: string[];
  aaaa?: string[];
  failure?: 'servfail' | 'timeout';
}

type Answer = (typeof Packet.prototype.answers)[number];

const TYPE_NAMES = new Map<number, string>(Object.entries(Packet.TYPE).map(([name, code]) => [code, name]));

function answers(node: Node, name: string, type: number): Answer[] {
  const base = { name, type, class: Packet.CLASS.IN, ttl: 1 };
  switch (type) {
    case Packet.TYPE.TXT:
      // A TXT string holds at most 255 bytes: long records (RSA DKIM keys) are split.
      return (node.txt ?? []).map((value) => ({ ...base, data: value.match(/.{1,255}/g) ?? [''] }) as Answer);
    case Packet.TYPE.MX:
      return (node.mx ?? []).map(
        (mx) => ({ ...base, exchange: mx.exchange, priority: mx.priority }) as Answer,
      );
    case Packet.TYPE.A:
      return (node.a ?? []).map((address) => ({ ...base, address }) as Answer);
    case Packet.TYPE.AAAA:
      return (node.aaaa ?? []).map((address) => ({ ...base, address }) as Answer);
    default:
      return [];
  }
}

export async function startTestDns(): Promise<TestDns> {
  const zone = new Map<string, Node>();
  const asked = new Map<string, number>();
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      const node = question ? zone.get(question.name.toLowerCase()) : undefined;
      if (question) {
        const key = `${question.name.toLowerCase()} ${TYPE_NAMES.get(question.type) ?? question.type}`;
        asked.set(key, (asked.get(key) ?? 0) + 1);
      }
      if (node?.failure === 'timeout') return;
      if (node?.failure === 'servfail') {
        response.header.rcode = 2; // SERVFAIL
      } else if (!question || !node) {
        response.header.rcode = 3; // NXDOMAIN
      } else {
        response.answers.push(...answers(node, question.name, question.type));
      }
      send(response);
    },
  });
  const listening = new Promise<void>((resolve) => server.on('listening', () => resolve()));
  server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  await listening;
  const { udp } = server.addresses() as { udp: { port: number } };

  // Sets one kind of record of a name, dropping the name once it has none left.
  function set<K extends keyof Node>(name: string, kind: K, value: Node[K] | undefined): void {
    const key = name.toLowerCase().replace(/\.$/, '');
    const node: Node = { ...zone.get(key), [kind]: value };
    if (value === undefined || (Array.isArray(value) && value.length === 0)) delete node[kind];
    if (Object.keys(node).length === 0) zone.delete(key);
    else zone.set(key, node);
  }

  return {
    server: `127.0.0.1:${udp.port}`,
    setTxt: (name, values) => set(name, 'txt', values),
    setMx: (name, records) => set(name, 'mx', records),
    setNullMx: (name) => set(name, 'mx', [{ exchange: '.', priority: 0 }]),
    setA: (name, addresses) => set(name, 'a', addresses),
    setAaaa: (name, addresses) => set(name, 'aaaa', addresses),
    setFailure: (name, failure) => set(name, 'failure', failure ?? undefined),
    remove: (name) => void zone.delete(name.toLowerCase().replace(/\.$/, '')),
    queries: (name, type) => asked.get(`${name.toLowerCase()} ${type.toUpperCase()}`) ?? 0,
    async close() {
      await server.close();
    },
  };
}
