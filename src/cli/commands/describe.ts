// spike-studio describe FILE [--python P] [-- extra args]: resolve, then `python -m spikestudio describe`.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findPython, runtimeEnv } from '../../core/runtime';
import { writeFileAtomic } from '../../core/runs';
import { parseArgs, UsageError } from '../args';
import { type CliContext, println } from '../context';
import { loadAndReport } from './load';

export const DESCRIBE_USAGE = 'spike-studio describe FILE [--python P]   resolve a config and print its model description (layers, shapes, params) as JSON';

function runPython(python: string, args: string[], ctx: CliContext): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(python, args, { env: runtimeEnv(ctx.runtimeRoot, ctx.env), cwd: ctx.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => ctx.stdout.write(chunk));
    child.stderr.on('data', (chunk: Buffer) => ctx.stderr.write(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      println(ctx.stderr, `error: cannot run "${python}" (${error.code ?? error.message}). Install Python 3.10+ or pass --python /path/to/python.`);
      resolve(127);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

export async function describeCommand(ctx: CliContext, argv: string[]): Promise<number> {
  const args = parseArgs(argv, { valueOptions: ['python'] });
  if (args.flags.has('help')) return println(ctx.stdout, DESCRIBE_USAGE), 0;
  const [file, ...passThrough] = args.positionals;
  if (!file) throw new UsageError('describe needs a FILE');
  const loaded = loadAndReport(ctx, file, ctx.stderr);
  if (!loaded.resolved) return 1;
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-studio-describe-'));
  const configPath = path.join(tempDir, 'config.resolved.json');
  writeFileAtomic(configPath, JSON.stringify(loaded.resolved, null, 2));
  const python = findPython({ configured: args.options.python, cwd: ctx.cwd, mode: 'cli', env: ctx.env });
  try {
    return await runPython(python.path, ['-m', 'spikestudio', 'describe', configPath, ...passThrough], ctx);
  } finally {
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
}
