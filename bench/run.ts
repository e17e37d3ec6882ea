// Runs every benchmark in turn and prints their figures (npm run bench).
import { execFileSync } from 'node:child_process';

for (const bench of ['seal.ts', 'audit.ts', 'dlp.ts', 'message.ts', 'secureline.ts', 'webhooks.ts']) {
  execFileSync(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      new URL(bench, import.meta.url).pathname,
      ...process.argv.slice(2),
    ],
    {
      stdio: 'inherit',
    },
  );
  process.stdout.write('\n');
}
