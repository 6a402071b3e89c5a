// spike-studio train FILE [--python P] [--runs-dir D] [--verbose] [--nproc N [--nnodes M --rdzv-endpoint H:P]]
// spike-studio train --resume RUN_DIR | spike-studio resume RUN_DIR   (continues RUN_DIR from checkpoints/last.pt)

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ResolvedConfig } from '../../core/config';
import type { DoneEvent, ErrorEvent } from '../../core/protocol';
import { createRun, type CreatedRun, EVENTS_FILE, RESOLVED_CONFIG_FILE } from '../../core/runs';
import { type DoctorReport, isInterpreterUsable, launchTraining, type TrainingProcess } from '../../core/runtime';
import { parseArgs, UsageError } from '../args';
import { type CliContext, println } from '../context';
import { formatDuration, formatPercent } from '../format';
import { TrainingProgress } from '../progress';
import { loadAndReport } from './load';

export const TRAIN_USAGE =
  'spike-studio train FILE [--python P] [--runs-dir D] [--verbose] [--nproc N [--nnodes M --rdzv-endpoint H:P]]   train a config with a live progress bar';
export const RESUME_USAGE = 'spike-studio resume RUN_DIR [--python P] [--verbose] [--nproc N]   continue a run from its last checkpoint (also: train --resume RUN_DIR)';

/** Launch options passed through to `python -m spikestudio train` (the runtime re-runs itself under torchrun). */
const LAUNCH_OPTIONS = ['nproc', 'nnodes', 'rdzv-endpoint'] as const;

const STDERR_TAIL_LINES = 15;

interface RunOutcome {
  done: DoneEvent | null;
  error: ErrorEvent | null;
  /** the run state's best top-1 (src/core/runs/state.ts) */
  bestTop1: number | null;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string[];
  wallSeconds: number;
}

function reportDoctor(ctx: CliContext, report: DoctorReport): void {
  const fatal = !isInterpreterUsable(report);
  for (const problem of report.problems) {
    println(ctx.stderr, `${fatal ? 'error' : 'warning'}: ${problem.message}`);
    if (problem.hint) println(ctx.stderr, `  fix: ${problem.hint}`);
  }
  if (fatal) println(ctx.stderr, '  or: spike-studio setup   (makes ./.venv with the PyTorch build for this machine and numpy; train then uses it)');
}

function installStopOnCtrlC(proc: TrainingProcess, progress: TrainingProgress): () => void {
  let presses = 0;
  const onSigint = () => {
    presses++;
    if (presses === 1) {
      progress.println('stopping after this step and saving a checkpoint… (Ctrl-C again to kill)');
      proc.stop();
    } else {
      progress.println('killing the training process');
      proc.kill('SIGKILL');
    }
  };
  process.on('SIGINT', onSigint);
  return () => process.off('SIGINT', onSigint);
}

function keepTail(lines: string[], text: string): void {
  lines.push(...text.split('\n').filter((l) => l.trim() !== ''));
  if (lines.length > STDERR_TAIL_LINES) lines.splice(0, lines.length - STDERR_TAIL_LINES);
}

async function watchTraining(ctx: CliContext, proc: TrainingProcess, verbose: boolean): Promise<RunOutcome> {
  const progress = new TrainingProgress(ctx.stderr);
  const started = Date.now();
  const outcome: RunOutcome = { done: null, error: null, bestTop1: null, code: null, signal: null, stderrTail: [], wallSeconds: 0 };
  proc.onEvent((event) => {
    progress.handle(event);
    if (event.type === 'done') outcome.done = event;
    if (event.type === 'error') outcome.error = event;
  });
  proc.onStrayOutput((line) => progress.println(`[runtime stdout] ${line}`));
  proc.onStderr((text) => {
    keepTail(outcome.stderrTail, text);
    if (verbose) progress.println(text.replace(/\n$/, ''));
  });
  const removeHandler = installStopOnCtrlC(proc, progress);
  const { code, signal } = await proc.exited;
  removeHandler();
  progress.finish();
  return { ...outcome, bestTop1: progress.bestTop1, code, signal, wallSeconds: (Date.now() - started) / 1000 };
}

function printSummary(ctx: CliContext, run: CreatedRun, outcome: RunOutcome): void {
  const status = outcome.done?.status ?? 'failed';
  const duration = outcome.done?.duration_s ?? outcome.wallSeconds;
  println(ctx.stdout, `${status === 'failed' ? '✗' : '✓'} run ${run.id}: ${status}`);
  println(ctx.stdout, `  best top-1  ${formatPercent(outcome.bestTop1, 2)}`);
  println(ctx.stdout, `  duration    ${formatDuration(duration)}`);
  if (outcome.done?.last_checkpoint) println(ctx.stdout, `  checkpoint  ${outcome.done.last_checkpoint}`);
  println(ctx.stdout, `  run dir     ${run.dir}`);
}

function printFailure(ctx: CliContext, run: CreatedRun, outcome: RunOutcome): void {
  if (outcome.error) {
    println(ctx.stderr, `error (${outcome.error.kind}): ${outcome.error.message}`);
    if (outcome.error.hint) println(ctx.stderr, `  hint: ${outcome.error.hint}`);
    return;
  }
  const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with code ${outcome.code}`;
  println(ctx.stderr, `error: the training process ${how} without reporting an error. Last lines of its stderr:`);
  for (const line of outcome.stderrTail) println(ctx.stderr, `  ${line}`);
  println(ctx.stderr, `  (full log: ${path.join(run.dir, 'stderr.log')})`);
}

function exitCodeOf(outcome: RunOutcome): number {
  const status = outcome.done?.status;
  if (status === 'completed' || status === 'stopped') return 0;
  return outcome.code && outcome.code > 0 ? outcome.code : 1;
}

interface TrainOptions {
  python?: string;
  runsDir?: string;
  verbose: boolean;
  /** an existing run directory to continue (`--resume`) */
  resume?: string;
  /** `--nproc N`, `--nnodes M`, `--rdzv-endpoint H:P` as given */
  launchArgs: string[];
}

/** Validates --nproc/--nnodes/--rdzv-endpoint and returns them as runtime arguments. */
function launchArgsOf(options: Record<string, string>): string[] {
  const out: string[] = [];
  for (const name of LAUNCH_OPTIONS) {
    const value = options[name];
    if (value === undefined) continue;
    if (name !== 'rdzv-endpoint' && !/^[1-9]\d*$/.test(value)) throw new UsageError(`--${name} must be a positive integer`);
    if (name === 'rdzv-endpoint' && !/^[^\s:]+:\d+$/.test(value)) throw new UsageError('--rdzv-endpoint must be HOST:PORT');
    out.push(`--${name}`, value);
  }
  if (options.nnodes && Number(options.nnodes) > 1 && !options['rdzv-endpoint']) throw new UsageError('--nnodes > 1 needs --rdzv-endpoint HOST:PORT');
  if ((options.nnodes || options['rdzv-endpoint']) && !options.nproc) throw new UsageError('--nnodes/--rdzv-endpoint need --nproc N');
  return out;
}

/** The run to continue: RUN_DIR must hold config.resolved.json (written when it was created). */
function existingRun(ctx: CliContext, dirArg: string): CreatedRun {
  const dir = path.resolve(ctx.cwd, dirArg);
  const configPath = path.join(dir, RESOLVED_CONFIG_FILE);
  if (!fs.existsSync(configPath)) throw new UsageError(`${dirArg} is not a run directory (no ${RESOLVED_CONFIG_FILE})`);
  return { id: path.basename(dir), dir, configPath, eventsPath: path.join(dir, EVENTS_FILE) };
}

async function train(ctx: CliContext, resolved: ResolvedConfig | null, options: TrainOptions): Promise<number> {
  const runsDir = options.runsDir ? path.resolve(ctx.cwd, options.runsDir) : undefined;
  const launched = await launchTraining({
    python: { configured: options.python, cwd: ctx.cwd, mode: 'cli', env: ctx.env },
    runtimeRoot: ctx.runtimeRoot,
    cwd: ctx.cwd,
    doctor: { env: ctx.env },
    onDoctorReport: (report) => reportDoctor(ctx, report),
    runDir: () => (options.resume ? existingRun(ctx, options.resume) : createRun(ctx.cwd, resolved as ResolvedConfig, undefined, { runsDir })),
    resume: options.resume !== undefined,
    env: ctx.env,
    extraArgs: options.launchArgs,
  });
  if (launched.kind !== 'started') return 1;
  const { run, python, proc } = launched;
  println(ctx.stderr, `${options.resume ? 'resuming ' : ''}run ${run.id} · python ${python.path} (${python.source}) · ${run.dir}`);
  const outcome = await watchTraining(ctx, proc, options.verbose);
  if (exitCodeOf(outcome) !== 0) printFailure(ctx, run, outcome);
  printSummary(ctx, run, outcome);
  return exitCodeOf(outcome);
}

export async function trainCommand(ctx: CliContext, argv: string[]): Promise<number> {
  const args = parseArgs(argv, { valueOptions: ['python', 'runs-dir', 'resume', ...LAUNCH_OPTIONS], flags: ['verbose'] });
  if (args.flags.has('help')) return println(ctx.stdout, `${TRAIN_USAGE}\n${RESUME_USAGE}`), 0;
  const launchArgs = launchArgsOf(args.options);
  const common = { python: args.options.python, verbose: args.flags.has('verbose'), launchArgs };
  if (args.options.resume !== undefined) {
    if (args.positionals.length > 0) throw new UsageError('train --resume RUN_DIR takes no FILE (the run keeps its config)');
    if (args.options['runs-dir'] !== undefined) throw new UsageError('--runs-dir does not apply to --resume (the run keeps its folder)');
    return train(ctx, null, { ...common, resume: args.options.resume });
  }
  if (args.positionals.length !== 1) throw new UsageError('train needs exactly one FILE');
  const loaded = loadAndReport(ctx, args.positionals[0], ctx.stderr);
  if (!loaded.resolved) return 1;
  return train(ctx, loaded.resolved, { ...common, runsDir: args.options['runs-dir'] });
}

/** `spike-studio resume RUN_DIR [...]` = `spike-studio train --resume RUN_DIR [...]`. */
export async function resumeCommand(ctx: CliContext, argv: string[]): Promise<number> {
  const args = parseArgs(argv, { valueOptions: ['python', ...LAUNCH_OPTIONS], flags: ['verbose'] });
  if (args.flags.has('help')) return println(ctx.stdout, RESUME_USAGE), 0;
  if (args.positionals.length !== 1) throw new UsageError('resume needs exactly one RUN_DIR');
  const rest = [...argv];
  rest.splice(rest.lastIndexOf(args.positionals[0]), 1);
  return trainCommand(ctx, ['--resume', args.positionals[0], ...rest]);
}
