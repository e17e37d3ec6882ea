// Runs the real `sealpost` command, as a user would, in child processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SEALPOST_BIN = fileURLToPath(new URL('../../bin/sealpost', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment for a child: only what it needs, so the developer's own SEALPOST_* do not leak in. */
export function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, SEALPOST_HTTP_PORT: '0' };
  return { ...base, ...env };
}

export function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(SEALPOST_BIN, args, { env: cliEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sealpost ${args.join(' ')} timed out\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface RunningServer {
  process: ChildProcess;
  /** Empty when the process runs no HTTP role. */
  url: string;
  /** What the server printed to stderr so far. */
  output(): string;
  /**
   * What a first start shows once (password, API key, first commands): to a test, which is no
   * terminal, in the 0600 file whose path the server printed. Null when no organisation was made.
   */
  firstStart: string | null;
  /** The first-start API key, when this start created the first organisation. */
  apiKey: string | null;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `sealpost serve` and waits until it says where it listens. */
export function startServe(env: Record<string, string>, args: string[] = []): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(SEALPOST_BIN, ['serve', ...args], { env: cliEnv(env) });
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start in time:\n${stderr}`));
    }, 60_000);
    child.stdout.resume();
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/Press Ctrl\+C to stop/.test(stderr)) {
        const url = /Sealpost is running at (http:\/\/\S+)/.exec(stderr)?.[1] ?? '';
        const file = /in (\S+first-start-credentials\.txt)/.exec(stderr)?.[1];
        const firstStart = file ? readFileSync(file, 'utf8') : null;
        clearTimeout(timer);
        resolve({
          process: child,
          url,
          output: () => stderr,
          firstStart,
          apiKey: /API key: +(spk_\S+)/.exec(firstStart ?? '')?.[1] ?? null,
          async stop(signal = 'SIGTERM') {
            child.kill(signal);
            return exited;
          },
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${stderr}`));
    });
  });
}

/**
 * What `init --json` made, as a script (no terminal) gets it: the object printed, completed with the
 * password and API key from the 0600 file it names.
 */
export function initResult(stdout: string) {
  const printed = JSON.parse(stdout);
  return { ...printed, ...JSON.parse(readFileSync(printed.credentials_file, 'utf8')) };
}

export const randomMasterKey = () => randomBytes(32).toString('base64');
