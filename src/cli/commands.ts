import { userInfo } from 'node:os';
import type { App } from '../app/index.ts';
import {
  appendAudit,
  auditVerifyJson,
  exportAudit,
  type ExportedCheckpoint,
  exportCheckpoints,
  parseCheckpoints,
  SYSTEM_ORG_ID,
} from '../audit/index.ts';
import { migrate } from '../db/index.ts';
import { SealpostError } from '../errors/index.ts';
import { instanceMode, type Mode, setInstanceMode } from '../sandbox/index.ts';
import type { Actor } from '../access-model/index.ts';

/** Where a command writes: progress for people (stderr), output for programs (stdout). */
export interface CommandOutput {
  progress(line: string): void;
  write(chunk: string): void;
}

export type CommandArgs = Record<string, string | boolean | undefined>;

/**
 * The commands that need the database. The same functions run in the CLI's own process, or, when
 * a server holds the embedded database, inside that server through its control socket.
 */
export const commands: Record<string, (app: App, args: CommandArgs, out: CommandOutput) => Promise<unknown>> =
  {
    async migrate(app, _args, out) {
      const applied = await migrate(app.db, out.progress);
      return { applied: applied.map((m) => `${m.version}_${m.name}`) };
    },

    async init(app, args) {
      const org = requireString(args, 'org');
      const admin = requireString(args, 'admin');
      return app.initOrganization({ name: org, adminEmail: admin, actor: cliActor(args) });
    },

    async 'keys rotate'(app, args, out) {
      const actor = cliActor(args);
      if (typeof args.org === 'string') {
        const version = await app.keyring.rotateOrgKey(args.org);
        await appendAudit(app.db, {
          orgId: args.org,
          actor,
          action: 'org_key.rotated',
          objectType: 'organization',
          objectId: args.org,
          outcome: 'success',
          details: { version },
        });
        return { rotated: 'organization', org_id: args.org, version };
      }
      const result = await app.keyring.rotateMaster(undefined, out.progress);
      await appendAudit(app.db, {
        orgId: SYSTEM_ORG_ID,
        actor,
        action: 'master_key.rotated',
        objectType: 'master_key',
        objectId: result.master_key_id,
        outcome: 'success',
        details: { rewrapped: result.rewrapped },
      });
      // A checkpoint key derived from the master key changed with it: the new one signs every head
      // now, so the chains stay anchored by a key this server holds.
      const { written } = await app.writeAuditCheckpoints();
      out.progress(`signed ${written} audit checkpoint(s) with the new key`);
      return { rotated: 'master', ...result };
    },

    async 'keys destroy'(app, args) {
      // Crypto-shredding at contract end: irreversible, so it must be asked for in so many words.
      const orgId = requireString(args, 'org');
      if (args.confirm !== orgId)
        throw new UsageError(`to destroy every key of ${orgId}, add --confirm ${orgId}`);
      const destroyed = await app.keyring.destroyOrgKeys(orgId);
      await appendAudit(app.db, {
        orgId,
        actor: cliActor(args),
        action: 'org_key.destroyed',
        objectType: 'organization',
        objectId: orgId,
        outcome: 'success',
        details: { versions: destroyed },
      });
      return { destroyed_key_versions: destroyed, org_id: orgId };
    },

    async 'mode sandbox'(app, args) {
      return switchMode(app, 'sandbox', cliActor(args));
    },

    async 'mode production'(app, args) {
      return switchMode(app, 'production', cliActor(args));
    },

    async 'audit verify'(app, args, out) {
      const result = await app.verifyAudit({
        orgId: optionalString(args, 'org'),
        checkpoints: heldCheckpoints(args),
        onProgress: out.progress,
      });
      return auditVerifyJson(result);
    },

    async 'audit checkpoint'(app) {
      const { written, key } = await app.writeAuditCheckpoints();
      return {
        written,
        key_id: key.id,
        public_key: key.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      };
    },

    async 'audit checkpoints export'(app, args, out) {
      const orgId = optionalString(args, 'org');
      let lines = 0;
      for await (const line of exportCheckpoints(app.db, { orgId })) {
        out.write(`${line}\n`);
        lines++;
      }
      await appendAudit(app.db, {
        orgId: orgId ?? SYSTEM_ORG_ID,
        actor: cliActor(args),
        action: 'audit.checkpoints_exported',
        objectType: 'audit_trail',
        objectId: orgId ?? 'all',
        outcome: 'success',
        details: { lines },
      });
      return { exported_checkpoints: lines };
    },

    async 'audit export'(app, args, out) {
      const format = args.format === 'csv' ? 'csv' : 'jsonl';
      let lines = 0;
      for await (const line of exportAudit(
        app.db,
        {
          orgId: requireString(args, 'org'),
          from: dateArg(args, 'from'),
          to: dateArg(args, 'to'),
          actorId: optionalString(args, 'actor'),
          objectType: optionalString(args, 'object-type'),
          objectId: optionalString(args, 'object-id'),
          action: optionalString(args, 'action'),
        },
        format,
      )) {
        out.write(`${line}\n`);
        if (++lines % 10_000 === 0) out.progress(`exported ${lines} lines`);
      }
      // Taking a copy of the trail out of Sealpost is itself on the record.
      await appendAudit(app.db, {
        orgId: requireString(args, 'org'),
        actor: cliActor(args),
        action: 'audit.exported',
        objectType: 'audit_trail',
        objectId: requireString(args, 'org'),
        outcome: 'success',
        details: { format, lines },
      });
      return { exported_lines: lines };
    },
  };

/** The operating-system user who ran the command, recorded as the audit actor. */
function cliActor(args: CommandArgs): Actor {
  const user = typeof args['os-user'] === 'string' ? args['os-user'] : userInfo().username;
  return { type: 'cli', id: user, label: `cli:${user}` };
}

export class UsageError extends Error {
  override name = 'UsageError';
}

function requireString(args: CommandArgs, name: string): string {
  const value = args[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

function optionalString(args: CommandArgs, name: string): string | undefined {
  const value = args[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The checkpoints the auditor gave with --checkpoints (read by the CLI, see main.ts). */
function heldCheckpoints(args: CommandArgs): ExportedCheckpoint[] | undefined {
  const text = args['checkpoints-text'];
  if (typeof text !== 'string') return undefined;
  try {
    return parseCheckpoints(text);
  } catch (err) {
    if (err instanceof SealpostError) throw new UsageError(`--checkpoints: ${err.message}`);
    throw err;
  }
}

function dateArg(args: CommandArgs, name: string): Date | undefined {
  const value = optionalString(args, name);
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new UsageError(`--${name} must be a date such as 2026-11-01T00:00:00Z`);
  return date;
}

/** The explicit switch between a trial and real delivery, on the record in the system chain. */
async function switchMode(app: App, mode: Mode, actor: Actor) {
  const before = await instanceMode(app.db);
  await app.db.transaction(async (tx) => {
    await setInstanceMode(tx, mode);
    await appendAudit(tx, {
      orgId: SYSTEM_ORG_ID,
      actor,
      action: 'instance.mode_changed',
      objectType: 'instance',
      objectId: 'mode',
      outcome: 'success',
      details: { from: before, to: mode },
    });
  });
  return {
    mode,
    previous: before,
    note:
      mode === 'production'
        ? 'Set SEALPOST_MODE=production for the server. Messages accepted in the sandbox stay captured, never sent.'
        : 'Set SEALPOST_MODE=sandbox for the server: mail will be captured, not sent.',
  };
}
