import { createWriteStream, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { App, PortInUseError, ROLES, type Role } from '../app/index.ts';
import { type Config, ConfigError, describeConfig, loadConfig } from '../config/index.ts';
import { configurationReference } from '../config/reference.ts';
import { embeddedDbDir } from '../db/index.ts';
import { DataDirInUseError, dataDirHolder } from '../db/lock.ts';
import { catalogue, errorsReference } from '../errors/index.ts';
import { createLogger } from '../log/index.ts';
import { type CommandArgs, type CommandOutput, commands, UsageError } from './commands.ts';
import { demoCommands, setUpDemo } from '../sandbox/index.ts';
import { controlSocketPath, runRemote, startControlServer } from './control.ts';
import { showOnce } from './secrets.ts';

const USAGE = `Usage: sealpost <command> [options]

Commands:
  serve [--only api,worker,smtp]        run Sealpost (all roles by default)
  migrate                               apply pending database migrations
  init --org NAME --admin EMAIL [--json]
                                        create an organisation and its first administrator
  keys rotate [--org ORG_ID]            re-wrap every organisation key under a new master key,
                                        or with --org give that organisation a new key version
  keys destroy --org ORG_ID --confirm ORG_ID
                                        destroy an organisation's keys: its sealed data is gone for good
  audit verify [--org ORG_ID] [--checkpoints FILE] [--json]
                                        prove the audit chains intact, or name each broken chain;
                                        with FILE, also against checkpoints exported earlier
  audit checkpoint [--json]             sign a checkpoint of every chain head that moved, and print
                                        the signing key's public half
  audit checkpoints export [--org ORG_ID] [--output FILE]
                                        the signed checkpoints as JSON lines: keep them elsewhere
  audit export --org ORG_ID [--from T] [--to T] [--actor ID] [--object-type T] [--object-id ID]
               [--action A] [--format jsonl|csv] [--output FILE]
  config [--docs]                       show the effective configuration (secrets masked),
                                        or print the configuration reference
  demo                                  print the commands that try SecureLine in sandbox mode
  errors [--docs]                       list the error codes as JSON, or print the error code reference
  mode sandbox|production               switch the database between a trial (mail captured)
                                        and real delivery, on purpose and on the record

Configuration comes from SEALPOST_* environment variables: see docs/configuration.md.
While \`serve\` runs on the embedded database, the other commands run inside it.`;

const OPTIONS = {
  only: { type: 'string' },
  org: { type: 'string' },
  admin: { type: 'string' },
  confirm: { type: 'string' },
  json: { type: 'boolean' },
  from: { type: 'string' },
  to: { type: 'string' },
  actor: { type: 'string' },
  'object-type': { type: 'string' },
  'object-id': { type: 'string' },
  action: { type: 'string' },
  format: { type: 'string' },
  output: { type: 'string' },
  checkpoints: { type: 'string' },
  docs: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const stderr = (line: string) => process.stderr.write(`${line}\n`);

/** Where the secrets of a first start, or of `init`, go when no terminal shows them. */
const FIRST_START_FILE = 'first-start-credentials.txt';
const credentialsFile = (config: Config, orgId: string) => join(config.dataDir, `credentials-${orgId}.txt`);
const SECRETS_FILE_NOTE = '(readable by you only: shown once, so delete it once read)';

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  const args = values as CommandArgs;
  // The longest command the words name: `audit checkpoints export` before `audit checkpoint`.
  const named = [3, 2, 1]
    .map((n) => positionals.slice(0, n).join(' '))
    .find((name) => Object.hasOwn(commands, name));
  const command = named ?? positionals[0];

  if (!command || values.help || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  if (command === 'config') {
    if (values.docs) {
      process.stdout.write(configurationReference());
      return 0;
    }
    process.stdout.write(`${JSON.stringify(describeConfig(loadConfig()), null, 2)}\n`);
    return 0;
  }
  if (command === 'errors') {
    process.stdout.write(values.docs ? errorsReference() : `${JSON.stringify(catalogue, null, 2)}\n`);
    return 0;
  }
  const config = loadConfig();
  if (command === 'serve') return serve(config, parseRoles(values.only));
  if (command === 'demo') {
    const apiKey = process.env.SEALPOST_API_KEY ? '$SEALPOST_API_KEY' : '<your API key>';
    process.stdout.write(
      `${demoCommands(config.publicUrl, apiKey, join(config.dataDir, 'demo')).join('\n')}\n`,
    );
    if (config.mode !== 'sandbox')
      stderr('Note: SEALPOST_MODE is production here: these messages would really be sent.');
    return 0;
  }
  if (!Object.hasOwn(commands, command)) throw new UsageError(`unknown command "${positionals.join(' ')}"`);
  return runCommand(config, command, args);
}

function parseRoles(only: string | undefined): Role[] {
  if (!only) return [...ROLES];
  const roles = only.split(',').map((r) => r.trim());
  const unknown = roles.filter((r) => !ROLES.includes(r as Role));
  if (unknown.length > 0) throw new UsageError(`--only takes ${ROLES.join(', ')}; not ${unknown.join(', ')}`);
  return roles as Role[];
}

async function runCommand(config: Config, command: string, args: CommandArgs): Promise<number> {
  let outputFile: ReturnType<typeof createWriteStream> | null = null;
  if (typeof args.output === 'string') outputFile = createWriteStream(args.output, { mode: 0o600 });
  const out: CommandOutput = {
    progress: stderr,
    write: (chunk) => (outputFile ? outputFile.write(chunk) : process.stdout.write(chunk)),
  };
  // The audit trail names the operating-system user who ran the command, even when the server runs it.
  args['os-user'] = userInfo().username;
  // The auditor's file is read here, with the rights of whoever runs the command, even when the
  // server verifies.
  if (typeof args.checkpoints === 'string') args['checkpoints-text'] = readText(args.checkpoints);
  let result: unknown;
  const holder = config.databaseUrl ? null : dataDirHolder(embeddedDbDir(config));
  if (holder !== null) {
    stderr(`The server (process ${holder}) holds the embedded database: running "${command}" inside it.`);
    result = await runRemote(controlSocketPath(config.dataDir), command, args, out);
  } else {
    const app = await App.open(config, { log: createLogger('warn') });
    try {
      result = await commands[command]!(app, args, out);
    } finally {
      await app.stop();
    }
  }
  if (outputFile) await new Promise((resolve) => outputFile.end(resolve));
  return report(config, command, args, result);
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** Prints a command's result for people, or as JSON with --json. */
function report(config: Config, command: string, args: CommandArgs, result: unknown): number {
  const r = result as Record<string, unknown>;
  if (args.json && command === 'init') {
    // The object holds the password and the key: whole on a terminal, without them elsewhere.
    const { admin_password: _password, api_key: _key, ...rest } = r;
    const file = showOnce(
      process.stdout,
      `${JSON.stringify(result)}\n`,
      credentialsFile(config, String(r.org_id)),
    );
    if (file) process.stdout.write(`${JSON.stringify({ ...rest, credentials_file: file })}\n`);
  } else if (args.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else if (command === 'init') {
    process.stdout.write(
      `Created organisation "${r.org_name}" (${r.org_id}).\n  Administrator: ${r.admin_email}\n`,
    );
    const secrets = [
      `  Password:      ${r.admin_password}   (shown once; change it at first sign-in)`,
      `  API key:       ${r.api_key}   (shown once)`,
      '',
    ].join('\n');
    const file = showOnce(process.stdout, secrets, credentialsFile(config, String(r.org_id)));
    if (file) process.stdout.write(`  Password and API key: in ${file} ${SECRETS_FILE_NOTE}\n`);
  } else if (command === 'audit verify') {
    const checkpoints = r.checkpoints as { checked: number; unverifiable: number; latest: string | null };
    if (r.ok) stderr(`Audit trail intact: ${r.events} events in ${r.chains} chain(s) verified.`);
    else
      for (const b of r.breaks as { org_id: string; seq: number; reason: string; detail: string }[])
        stderr(`Audit trail BROKEN: chain ${b.org_id} at event ${b.seq} (${b.reason}): ${b.detail}`);
    stderr(
      `Signed checkpoints checked: ${checkpoints.checked}${checkpoints.latest ? `, the newest signed at ${checkpoints.latest}` : ''}.` +
        (checkpoints.unverifiable
          ? ` ${checkpoints.unverifiable} signed by a key this server does not hold were not used.`
          : ''),
    );
  } else if (command === 'audit checkpoint') {
    stderr(`Signed ${r.written} checkpoint(s) with key ${r.key_id}. Its public key, for auditors:`);
    process.stdout.write(String(r.public_key));
  } else if (command === 'audit checkpoints export') {
    stderr(`Exported ${r.exported_checkpoints} checkpoint(s).`);
  } else if (command === 'migrate') {
    const applied = r.applied as string[];
    stderr(applied.length ? `Applied ${applied.length} migration(s).` : 'The database schema is up to date.');
  } else if (command !== 'audit export') {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    stderr(`Exported ${r.exported_lines} line(s).`);
  }
  if (command === 'audit verify' && !r.ok) return 1;
  return 0;
}

async function serve(config: Config, roles: Role[]): Promise<number> {
  const app = await App.open(config);
  // Started first: a server refused its port has created nothing (no first organisation whose
  // password nobody saw).
  let url: string | null;
  try {
    ({ url } = await app.start(roles));
  } catch (err) {
    await app.stop().catch(() => {});
    throw err;
  }
  let firstRun = null;
  let demo = null;
  if (!(await app.hasOrganizations())) {
    const actor = { type: 'system' as const, id: 'first-start', label: 'first-start' };
    firstRun = await app.initOrganization({
      name: config.firstOrgName,
      adminEmail: config.firstAdminEmail,
      actor,
    });
    if (config.mode === 'sandbox') demo = await setUpDemo(app, firstRun.org_id, actor);
  }
  const control = config.databaseUrl
    ? null
    : await startControlServer(app, controlSocketPath(config.dataDir));
  const where = config.databaseUrl ? 'PostgreSQL' : `the embedded database in ${embeddedDbDir(config)}`;
  if (roles.includes('smtp'))
    stderr('Note: the SMTP gateway is not built yet; the smtp role has nothing to run.');
  stderr(`Sealpost is running at ${url ?? '(no HTTP role)'} (roles: ${roles.join(', ')}; ${where})`);
  stderr(
    config.mode === 'sandbox'
      ? 'Mode: sandbox. Mail is captured, never sent: see /v1/sandbox/messages (SEALPOST_MODE=production delivers).'
      : 'Mode: production. Mail is delivered to recipients’ mail servers.',
  );
  if (firstRun) {
    stderr(`First start: created organisation "${firstRun.org_name}" (${firstRun.org_id}).`);
    stderr(`  Admin login: ${firstRun.admin_email}`);
    // The password, the key and the commands that carry it.
    const secrets = [
      `  Password:    ${firstRun.admin_password}   (shown once)`,
      `  API key:     ${firstRun.api_key}   (shown once)`,
    ];
    if (url && demo) {
      secrets.push('Try SecureLine (sandbox: nothing leaves this machine). Send one message to five demo');
      secrets.push('recipients, see what happened to each, and see what would have left:');
      for (const line of demoCommands(url, firstRun.api_key, demo.folder)) secrets.push(`  ${line}`);
    } else if (url)
      secrets.push(
        `  Try it:      curl -H "Authorization: Bearer ${firstRun.api_key}" ${url}/v1/organization`,
      );
    const file = showOnce(process.stderr, `${secrets.join('\n')}\n`, join(config.dataDir, FIRST_START_FILE));
    if (file) stderr(`  Password, API key and first commands: in ${file} ${SECRETS_FILE_NOTE}`);
  }
  if (url) stderr(`API reference: ${url}/docs  ·  OpenAPI document: ${url}/openapi.json`);
  stderr('Press Ctrl+C to stop.');

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  stderr('Stopping: finishing requests and jobs under way.');
  control?.close();
  await app.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    if (err instanceof ConfigError) stderr(err.message);
    else if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      stderr(`sealpost: ${err.message}\nRun "sealpost help" for usage.`);
      process.exit(2);
    } else if (err instanceof DataDirInUseError || err instanceof PortInUseError)
      stderr(`sealpost: ${err.message}`);
    else stderr(`sealpost: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
