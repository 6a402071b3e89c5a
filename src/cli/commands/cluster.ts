// spike-studio submit FILE [--cluster NAME] [profile flags] [--hold] [--watch]   (Train on Cluster)
// spike-studio sweep FILE [--parallel N] [--cluster NAME …] [--dry-run]        (local N at a time, or a job array)
// spike-studio stop RUN_DIR                                                    (Slurm run: checkpoint + stopped)

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ClusterProfile, checkProfile, describeJob, refreshJob, SlurmError, stopJob } from '../../core/cluster/slurm';
import { prepareClusterRun, runSweepLocal, submitPrepared, submitSweepArray, type ClusterTarget } from '../../core/cluster/submit';
import { describeParams, loadSweep } from '../../core/cluster/sweep';
import { formatDiagnostic } from '../../core/config';
import { readRun } from '../../core/runs';
import { findPython } from '../../core/runtime';
import { parseArgs, UsageError } from '../args';
import { type CliContext, println } from '../context';
import { formatPercent } from '../format';
import { loadAndReport } from './load';

export const SUBMIT_USAGE =
  'spike-studio submit FILE [--cluster NAME] [--partition P] [--account A] [--qos Q] [--nodes N] [--gpus-per-node G] [--cpus C] [--mem M] [--time T] [--grace S] [--hold] [--watch]   train on a Slurm cluster';
export const SWEEP_USAGE = 'spike-studio sweep FILE [--parallel N] [--dry-run] [--cluster NAME …]   run a sweep here N at a time, or as a Slurm job array';
export const STOP_USAGE = 'spike-studio stop RUN_DIR   stop a Slurm run (checkpoint at the next step, ends stopped)';

const PROFILE_FLAGS = ['partition', 'account', 'qos', 'nodes', 'gpus-per-node', 'cpus', 'mem', 'time', 'grace'] as const;
const COMMON_OPTIONS = ['cluster', 'python', 'runs-dir', ...PROFILE_FLAGS];

/** The `spikeStudio.clusters` of <cwd>/.vscode/settings.json (comments allowed), or {}. */
function settingsProfiles(cwd: string): Record<string, unknown> {
  try {
    const text = fs.readFileSync(path.join(cwd, '.vscode', 'settings.json'), 'utf8');
    const json = JSON.parse(text.replace(/^\s*\/\/.*$/gm, '').replace(/,(\s*[}\]])/g, '$1')) as Record<string, unknown>;
    const clusters = json['spikeStudio.clusters'];
    return typeof clusters === 'object' && clusters !== null ? (clusters as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function profileOf(ctx: CliContext, options: Record<string, string>): { name: string; profile: ClusterProfile } {
  const name = options.cluster ?? 'default';
  const all = settingsProfiles(ctx.cwd);
  if (options.cluster && !(options.cluster in all)) {
    throw new UsageError(`no cluster profile "${options.cluster}" in .vscode/settings.json spikeStudio.clusters (known: ${Object.keys(all).join(', ') || 'none'})`);
  }
  const problems = options.cluster ? checkProfile(name, all[name]) : [];
  if (problems.length) throw new UsageError(problems.join('; '));
  const profile: ClusterProfile = { ...((all[name] as ClusterProfile | undefined) ?? {}) };
  const int = (flag: string) => {
    const v = options[flag];
    if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} must be a whole number`);
    return Number(v);
  };
  if (options.partition) profile.partition = options.partition;
  if (options.account) profile.account = options.account;
  if (options.qos) profile.qos = options.qos;
  if (options.mem) profile.mem = options.mem;
  if (options.time) profile.time = options.time;
  if (options.nodes) profile.nodes = int('nodes');
  if (options['gpus-per-node']) profile.gpusPerNode = int('gpus-per-node');
  if (options.cpus) profile.cpus = int('cpus');
  if (options.grace) profile.grace = int('grace');
  return { name, profile };
}

function targetOf(ctx: CliContext, options: Record<string, string>, hold: boolean): ClusterTarget {
  const { name, profile } = profileOf(ctx, options);
  const python = profile.python ?? findPython({ configured: options.python, cwd: ctx.cwd, mode: 'cli', env: ctx.env }).path;
  return { profile, cluster: name, python, runtimeRoot: ctx.runtimeRoot, env: ctx.env, sbatchArgs: hold ? ['--hold'] : [] };
}

function reportSlurmError(ctx: CliContext, error: unknown): number {
  if (!(error instanceof SlurmError)) throw error;
  println(ctx.stderr, `error: ${error.message}`);
  if (error.hint) println(ctx.stderr, `  hint: ${error.hint}`);
  return 1;
}

/** Follows a Slurm run until its job leaves the queue; prints each new state. */
async function watchJob(ctx: CliContext, runDir: string): Promise<number> {
  let last = '';
  for (;;) {
    const record = await refreshJob(runDir, { env: ctx.env });
    const line = record ? describeJob(record) : 'no job record';
    if (line !== last) println(ctx.stdout, line), (last = line);
    if (!record || record.final) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  const run = readRun(runDir);
  println(ctx.stdout, `run ${run.id}: ${run.status} · best top-1 ${formatPercent(run.bestTop1, 2)}`);
  return run.status === 'completed' || run.status === 'stopped' ? 0 : 1;
}

export async function submitCommand(ctx: CliContext, argv: string[]): Promise<number> {
  const args = parseArgs(argv, { valueOptions: COMMON_OPTIONS, flags: ['hold', 'watch'] });
  if (args.flags.has('help')) return println(ctx.stdout, SUBMIT_USAGE), 0;
  if (args.positionals.length !== 1) throw new UsageError('submit needs exactly one FILE');
  const loaded = loadAndReport(ctx, args.positionals[0], ctx.stderr);
  if (!loaded.resolved) return 1;
  const target = targetOf(ctx, args.options, args.flags.has('hold'));
  const runsDir = args.options['runs-dir'] ? path.resolve(ctx.cwd, args.options['runs-dir']) : undefined;
  const prepared = prepareClusterRun(ctx.cwd, loaded.resolved, target, runsDir);
  try {
    const jobId = await submitPrepared(prepared, target);
    println(ctx.stdout, `submitted job ${jobId} · run ${prepared.run.id} · ${prepared.run.dir}`);
    println(ctx.stdout, `  script ${prepared.script}`);
  } catch (error) {
    return reportSlurmError(ctx, error);
  }
  return args.flags.has('watch') ? watchJob(ctx, prepared.run.dir) : 0;
}

export async function sweepCommand(ctx: CliContext, argv: string[]): Promise<number> {
  const args = parseArgs(argv, { valueOptions: [...COMMON_OPTIONS, 'parallel'], flags: ['dry-run', 'hold', 'slurm'] });
  if (args.flags.has('help')) return println(ctx.stdout, SWEEP_USAGE), 0;
  if (args.positionals.length !== 1) throw new UsageError('sweep needs exactly one FILE');
  const file = path.resolve(ctx.cwd, args.positionals[0]);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    println(ctx.stderr, `${args.positionals[0]}:1:1: error: cannot read the file.`);
    return 1;
  }
  const sweep = loadSweep(text, file);
  for (const d of sweep.diagnostics) println(ctx.stderr, formatDiagnostic(args.positionals[0], d));
  if (!sweep.spec && sweep.diagnostics.length === 0) println(ctx.stderr, `${args.positionals[0]}: no sweep: section (see README "Clusters and sweeps").`);
  if (sweep.members.length === 0) return 1;
  println(ctx.stdout, `sweep of ${sweep.members.length} runs:`);
  for (const m of sweep.members) println(ctx.stdout, `  ${m.index}: ${describeParams(m.params)}`);
  if (args.flags.has('dry-run')) return 0;
  const parallel = args.options.parallel !== undefined ? Number(args.options.parallel) : undefined;
  if (parallel !== undefined && !(Number.isInteger(parallel) && parallel >= 1)) throw new UsageError('--parallel must be a positive integer');
  const runsDir = args.options['runs-dir'] ? path.resolve(ctx.cwd, args.options['runs-dir']) : undefined;
  if (args.options.cluster || args.flags.has('slurm') || PROFILE_FLAGS.some((f) => args.options[f] !== undefined)) {
    try {
      const started = await submitSweepArray(ctx.cwd, file, sweep.members, targetOf(ctx, args.options, args.flags.has('hold')), { runsDir, parallel });
      println(ctx.stdout, `submitted job array ${started.jobId} (${started.runs.length} members) · sweep ${started.record.id} · ${started.dir}`);
      return 0;
    } catch (error) {
      return reportSlurmError(ctx, error);
    }
  }
  const python = findPython({ configured: args.options.python, cwd: ctx.cwd, mode: 'cli', env: ctx.env }).path;
  const result = await runSweepLocal(ctx.cwd, file, sweep.members, {
    python, runtimeRoot: ctx.runtimeRoot, parallel, env: ctx.env, runsDir,
    onStart: (run, slot) => println(ctx.stdout, `[slot ${slot}] start ${run.id}`),
    onDone: (run, state) => println(ctx.stdout, `done ${run.id}: ${state.done?.status ?? 'failed'} · best top-1 ${formatPercent(state.bestTop1, 2)}`),
  });
  println(ctx.stdout, `sweep ${result.record.id} · ${result.dir}`);
  return result.done.every((d) => d && d.status !== 'failed') ? 0 : 1;
}

export async function stopCommand(ctx: CliContext, argv: string[]): Promise<number> {
  const args = parseArgs(argv, {});
  if (args.flags.has('help')) return println(ctx.stdout, STOP_USAGE), 0;
  if (args.positionals.length !== 1) throw new UsageError('stop needs exactly one RUN_DIR');
  try {
    await stopJob(path.resolve(ctx.cwd, args.positionals[0]), { env: ctx.env });
  } catch (error) {
    return reportSlurmError(ctx, error);
  }
  println(ctx.stdout, 'stop sent: the run checkpoints at its next step and ends stopped');
  return 0;
}
