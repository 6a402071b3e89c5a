// spike-studio eval --checkpoint FILE [--split test|train] [--config RESOLVED.json] [--out SUMMARY.json]
//                   [--device D] [--batch-size N] [--python P] [--verbose]
// Delegates to `python -m spikestudio eval` (events on stdout) and prints a short summary.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EnergyEvent, ErrorEvent, EvalEvent, RuntimeEvent } from '../../core/protocol';
import { findPython, JsonLinesParser, runtimeEnv } from '../../core/runtime';
import { parseArgs, UsageError } from '../args';
import { type CliContext, println } from '../context';
import { formatPercent } from '../format';

export const EVAL_USAGE =
  'spike-studio eval --checkpoint FILE [--split test|train] [--config RESOLVED.json] [--out SUMMARY.json] [--device D] [--batch-size N] [--python P]   evaluate a checkpoint';

/** Options passed through to the runtime as `--name value` (paths resolved against the current folder). */
const PASS_THROUGH = ['checkpoint', 'split', 'config', 'out', 'device', 'batch-size'] as const;
const PATH_OPTIONS = new Set(['checkpoint', 'config', 'out']);

interface EvalOutcome {
  code: number;
  eval: (EvalEvent & { split?: string }) | null;
  energy: EnergyEvent | null;
  error: ErrorEvent | null;
  stderr: string;
}

function runEval(ctx: CliContext, python: string, args: string[], verbose: boolean): Promise<EvalOutcome> {
  return new Promise((resolve) => {
    const outcome: EvalOutcome = { code: 1, eval: null, energy: null, error: null, stderr: '' };
    const parser = new JsonLinesParser();
    const take = (event: RuntimeEvent) => {
      if (event.type === 'eval') outcome.eval = event;
      else if (event.type === 'energy') outcome.energy = event;
      else if (event.type === 'error') outcome.error = event;
    };
    const deliver = (lines: ReturnType<JsonLinesParser['push']>) => {
      for (const line of lines) if (line.kind === 'event') take(line.event);
    };
    const child = spawn(python, args, { env: runtimeEnv(ctx.runtimeRoot, ctx.env), cwd: ctx.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => deliver(parser.push(chunk)));
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      outcome.stderr = (outcome.stderr + text).slice(-4000);
      if (verbose) ctx.stderr.write(text);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      println(ctx.stderr, `error: cannot run "${python}" (${error.code ?? error.message}). Install Python 3.10+ or pass --python /path/to/python.`);
      resolve({ ...outcome, code: 127 });
    });
    child.on('close', (code) => {
      deliver(parser.end());
      resolve({ ...outcome, code: code ?? 1 });
    });
  });
}

export async function evalCommand(ctx: CliContext, argv: string[]): Promise<number> {
  const args = parseArgs(argv, { valueOptions: ['python', ...PASS_THROUGH], flags: ['verbose'] });
  if (args.flags.has('help')) return println(ctx.stdout, EVAL_USAGE), 0;
  if (args.positionals.length > 0) throw new UsageError(`eval takes no positional arguments (got "${args.positionals[0]}"); use --checkpoint FILE`);
  if (!args.options.checkpoint) throw new UsageError('eval needs --checkpoint FILE');
  if (args.options.split && !['test', 'train'].includes(args.options.split)) throw new UsageError('--split must be test or train');
  const checkpoint = path.resolve(ctx.cwd, args.options.checkpoint);
  if (!fs.existsSync(checkpoint)) {
    println(ctx.stderr, `error: ${args.options.checkpoint}: no such checkpoint`);
    return 1;
  }
  const runtimeArgs = ['-m', 'spikestudio', 'eval'];
  for (const name of PASS_THROUGH) {
    const value = args.options[name];
    if (value !== undefined) runtimeArgs.push(`--${name}`, PATH_OPTIONS.has(name) ? path.resolve(ctx.cwd, value) : value);
  }
  const python = findPython({ configured: args.options.python, cwd: ctx.cwd, mode: 'cli', env: ctx.env });
  println(ctx.stderr, `evaluating ${checkpoint} · python ${python.path} (${python.source})`);
  const outcome = await runEval(ctx, python.path, runtimeArgs, args.flags.has('verbose'));
  if (outcome.code !== 0 || !outcome.eval) {
    if (outcome.error) {
      println(ctx.stderr, `error (${outcome.error.kind}): ${outcome.error.message}`);
      if (outcome.error.hint) println(ctx.stderr, `  hint: ${outcome.error.hint}`);
    } else {
      println(ctx.stderr, `error: the evaluation exited with code ${outcome.code} without a result. Last lines of its stderr:`);
      for (const line of outcome.stderr.split('\n').filter((l) => l.trim()).slice(-15)) println(ctx.stderr, `  ${line}`);
    }
    return outcome.code === 0 ? 1 : outcome.code;
  }
  const e = outcome.eval;
  println(ctx.stdout, `✓ eval ${path.basename(checkpoint)} (${e.split ?? args.options.split ?? 'test'} split, epoch ${e.epoch}, step ${e.step})`);
  println(ctx.stdout, `  top-1    ${formatPercent(e.top1, 2)}`);
  println(ctx.stdout, `  top-5    ${formatPercent(e.top5, 2)}`);
  println(ctx.stdout, `  loss     ${Number.isFinite(e.loss) ? e.loss.toFixed(4) : String(e.loss)}`);
  println(ctx.stdout, `  samples  ${e.samples}`);
  if (outcome.energy) println(ctx.stdout, `  energy   ${outcome.energy.total_mj.toPrecision(3)} mJ (${outcome.energy.convention})`);
  if (args.options.out) println(ctx.stdout, `  summary  ${path.resolve(ctx.cwd, args.options.out)}`);
  return 0;
}
