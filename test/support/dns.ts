// A DNS server on loopback that answers TXT questions from a zone the test fills in.
import dns2 from 'dns2';

const { Packet } = dns2;

export interface TestDns {
  /** host:port, for SEALPOST_DNS_SERVERS. */
  server: string;
  /** Sets the TXT records of a name (an empty list removes it). */
  setTxt(name: string, values: string[]): void;
  close(): Promise<void>;
}

export async function startTestDns(): Promise<TestDns> {
  const zone = new Map<string, string[]>();
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      const values = question ? zone.get(question.name.toLowerCase()) : undefined;
      if (!question || !values) {
        response.header.rcode = 3; // NXDOMAIN
      } else if (question.type === Packet.TYPE.TXT) {
        for (const value of values) {
          // A TXT string holds at most 255 bytes: long records (RSA DKIM keys) are split.
          const chunks = value.match(/.{1,255}/g) ?? [''];
          response.answers.push({
            name: question.name,
            type: Packet.TYPE.TXT,
            class: Packet.CLASS.IN,
            ttl: 1,
            data: chunks,
          } as unknown as (typeof response.answers)[number]);
        }
      }
      send(response);
    },
  });
  const listening = new Promise<void>((resolve) => server.on('listening', () => resolve()));
  server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  await listening;
  const { udp } = server.addresses() as { udp: { port: number } };
  return {
    server: `127.0.0.1:${udp.port}`,
    setTxt(name, values) {
      if (values.length === 0) zone.delete(name.toLowerCase());
      else zone.set(name.toLowerCase(), values);
    },
    async close() {
      await server.close();
    },
  };
}
