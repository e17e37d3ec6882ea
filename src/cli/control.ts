import { chmodSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import type { App } from '../app/index.ts';
import { type CommandArgs, type CommandOutput, commands, UsageError } from './commands.ts';

// While `serve` holds the embedded database, the CLI runs its commands inside the server through
// this socket in the data folder (mode 0600: only the server's own user can connect). Answers are
// JSON lines: {"progress"}, {"output"}, then one {"result"} or {"error"}.

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, 'control.sock');
}

export async function startControlServer(app: App, path: string): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/run') {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    for await (const chunk of req) body += chunk;
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const send = (line: object) => res.write(`${JSON.stringify(line)}\n`);
    try {
      const { command, args } = JSON.parse(body) as { command: string; args: CommandArgs };
      // Its own commands only: "constructor" or "__proto__" name something every object inherits.
      if (typeof command !== 'string' || !Object.hasOwn(commands, command))
        throw new UsageError(`unknown command "${String(command)}"`);
      const run = commands[command]!;
      const out: CommandOutput = {
        progress: (line) => send({ progress: line }),
        write: (chunk) => send({ output: chunk }),
      };
      app.log.info({ command }, 'control command');
      send({ result: await run(app, args, out) });
    } catch (err) {
      send({ error: { name: (err as Error).name, message: (err as Error).message } });
    }
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return server;
}

/** Runs a command in the server that listens on `path`; rejects when nothing listens there. */
export function runRemote(
  path: string,
  command: string,
  args: CommandArgs,
  out: CommandOutput,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: '/run', method: 'POST' }, async (res) => {
      let buffer = '';
      let settled = false;
      const handle = (line: string) => {
        if (!line) return;
        const message = JSON.parse(line) as {
          progress?: string;
          output?: string;
          result?: unknown;
          error?: { name: string; message: string };
        };
        if (message.progress !== undefined) out.progress(message.progress);
        if (message.output !== undefined) out.write(message.output);
        if ('result' in message) {
          settled = true;
          resolve(message.result);
        }
        if (message.error) {
          settled = true;
          const err =
            message.error.name === 'UsageError'
              ? new UsageError(message.error.message)
              : new Error(message.error.message);
          reject(err);
        }
      };
      for await (const chunk of res) {
        buffer += chunk;
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          handle(buffer.slice(0, newline));
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
        }
      }
      if (!settled) reject(new Error('the server closed the control connection without an answer'));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ command, args }));
  });
}
