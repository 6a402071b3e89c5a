// Slurm: cluster profiles, the sbatch script written into a run dir, submitting it, following the job through
// squeue / scontrol (sacct when accounting exists) and stopping it with a checkpoint (contracts §3, "Slurm").
//
// Files of a Slurm run, all under RUN_DIR/slurm/:
//   job.sbatch        the batch script (written before submitting; the user can open it)
//   job.json          {jobId, cluster, script, stdout, stderr, submittedAt, state?, reason?, nodes?, restarts?, final?}
//                     — the last state seen in the queue; `final` once the job left it (the record survives
//                     scontrol's MinJobAge and clusters without accounting)
//   stop-requested    written by Stop before `scancel --signal=USR1 --batch`: the script must not requeue
//   stop-signal       touched by the script on USR1; the trainer (SPIKE_STOP_FILE) checkpoints and stops
//   slurm-<id>.out/.err  the job's stdout/stderr

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../runs/runs';

export const SLURM_SUBDIR = 'slurm';
export const JOB_FILE = 'job.json';
export const SCRIPT_FILE = 'job.sbatch';
export const STOP_REQUESTED_FILE = 'stop-requested';
export const STOP_SIGNAL_FILE = 'stop-signal';
/** seconds between Slurm's USR1 and the time limit (the trainer finishes a step and writes last.pt) */
export const DEFAULT_GRACE_S = 120;

/** One entry of the `spikeStudio.clusters` setting. */
export interface ClusterProfile {
  partition?: string;
  account?: string;
  qos?: string;
  /** default 1 */
  nodes?: number;
  /** 0 = CPU only (default) */
  gpusPerNode?: number;
  /** CPUs per task (one task per node) */
  cpus?: number;
  /** e.g. "32G" */
  mem?: string;
  /** Slurm time, e.g. "1-00:00:00" or "60" (minutes) */
  time?: string;
  /** shell lines run before training, e.g. "module load cuda/12.4" */
  setup?: string[];
  /** the Python on the compute nodes (default: the one the extension uses) */
  python?: string;
  /** seconds of warning before the time limit (`--signal=B:USR1@grace`, default 120) */
  grace?: number;
  /** more `#SBATCH` options, e.g. ["--constraint=a100"] */
  extraOptions?: string[];
}

const PROFILE_KEYS: Record<keyof ClusterProfile, 'string' | 'int' | 'lines'> = {
  partition: 'string', account: 'string', qos: 'string', nodes: 'int', gpusPerNode: 'int', cpus: 'int', mem: 'string',
  time: 'string', setup: 'lines', python: 'string', grace: 'int', extraOptions: 'lines',
};

/** Checks a profile from settings; returns the problems (empty when fine). */
export function checkProfile(name: string, value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`spikeStudio.clusters.${name} must be an object`];
  const problems: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const kind = PROFILE_KEYS[key as keyof ClusterProfile];
    const at = `spikeStudio.clusters.${name}.${key}`;
    if (!kind) problems.push(`${at}: unknown key (known: ${Object.keys(PROFILE_KEYS).join(', ')})`);
    else if (kind === 'string' && typeof v !== 'string') problems.push(`${at} must be a string`);
    else if (kind === 'int' && !(Number.isInteger(v) && (v as number) >= 0)) problems.push(`${at} must be a whole number ≥ 0`);
    else if (kind === 'lines' && !(Array.isArray(v) && v.every((l) => typeof l === 'string'))) problems.push(`${at} must be a list of strings`);
  }
  if ((value as ClusterProfile).nodes === 0) problems.push(`spikeStudio.clusters.${name}.nodes must be ≥ 1`);
  return problems;
}

/** Single-quotes a string for bash. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface ScriptOptions {
  profile: ClusterProfile;
  /** the run dir (one run) — or, for a job array, every member's run dir in array-index order */
  runDirs: string[];
  jobName: string;
  python: string;
  /** folder holding the `spikestudio` package */
  runtimeRoot: string;
  /** where the job's stdout/stderr go (default RUN_DIR/slurm; a sweep's folder for arrays) */
  logDir?: string;
  /** at most this many array members at once (`--array=0-N%K`) */
  arrayParallel?: number;
}

/** The `#SBATCH` lines of a profile. */
function sbatchDirectives(o: ScriptOptions, logDir: string, array: boolean): string[] {
  const p = o.profile;
  const pattern = array ? '%A_%a' : '%j';
  const lines = [`--job-name=${o.jobName}`];
  if (p.partition) lines.push(`--partition=${p.partition}`);
  if (p.account) lines.push(`--account=${p.account}`);
  if (p.qos) lines.push(`--qos=${p.qos}`);
  lines.push(`--nodes=${p.nodes ?? 1}`, '--ntasks-per-node=1');
  if (p.gpusPerNode) lines.push(`--gpus-per-node=${p.gpusPerNode}`);
  if (p.cpus) lines.push(`--cpus-per-task=${p.cpus}`);
  if (p.mem) lines.push(`--mem=${p.mem}`);
  if (p.time) lines.push(`--time=${p.time}`);
  if (array) lines.push(`--array=0-${o.runDirs.length - 1}${o.arrayParallel ? `%${o.arrayParallel}` : ''}`);
  lines.push(`--output=${path.join(logDir, `slurm-${pattern}.out`)}`, `--error=${path.join(logDir, `slurm-${pattern}.err`)}`);
  lines.push('--open-mode=append');
  for (const extra of p.extraOptions ?? []) lines.push(extra);
  return lines.map((l) => `#SBATCH ${l}`);
}

/**
 * The batch script. One node and at most one GPU: the trainer runs directly in the batch shell's child. More: one
 * `srun` task per node runs `torchrun` with a c10d rendezvous on the allocation's first node.
 * USR1 (Stop's `scancel --signal=USR1 --batch`, or `--signal=B:USR1@grace` before the time limit / preemption) →
 * the script touches stop-signal and forwards USR1 to the trainer, which finishes its step, writes last.pt and ends
 * `stopped`; unless Stop asked (stop-requested), the script then `scontrol requeue`s the job, which resumes the
 * same run dir (`train --resume`) and emits `requeued`.
 */
export function sbatchScript(o: ScriptOptions): string {
  const p = o.profile;
  const array = o.runDirs.length > 1;
  const logDir = o.logDir ?? path.join(o.runDirs[0], SLURM_SUBDIR);
  const nodes = p.nodes ?? 1;
  const gpus = p.gpusPerNode ?? 0;
  const distributed = nodes > 1 || gpus > 1;
  const q = shellQuote;
  const out = ['#!/bin/bash', ...sbatchDirectives(o, logDir, array)];
  out.push(
    '#',
    `# Written by Spike Studio. Submitted as: sbatch --parsable --signal=B:USR1@${p.grace ?? DEFAULT_GRACE_S} --requeue <this file>`,
    '# USR1 (Stop, time limit, preemption) → checkpoint at the next step boundary; requeue unless Stop asked.',
    'set -u',
  );
  if (array) {
    out.push(`RUN_DIRS=(${o.runDirs.map(q).join(' ')})`, 'RUN_DIR="${RUN_DIRS[$SLURM_ARRAY_TASK_ID]}"');
  } else {
    out.push(`RUN_DIR=${q(o.runDirs[0])}`);
  }
  out.push(
    `PYTHON=${q(p.python ?? o.python)}`,
    `export PYTHONPATH=${q(o.runtimeRoot)}\${PYTHONPATH:+:\$PYTHONPATH}`,
    'export PYTHONUNBUFFERED=1 SPIKE_SLURM=1',
    `export SPIKE_STOP_FILE="$RUN_DIR/${SLURM_SUBDIR}/${STOP_SIGNAL_FILE}"`,
    `STOP_REQUESTED="$RUN_DIR/${SLURM_SUBDIR}/${STOP_REQUESTED_FILE}"`,
    'mkdir -p "$RUN_DIR/slurm"',
  );
  if (p.setup?.length) out.push('# set-up (spikeStudio.clusters … setup)', ...p.setup);
  out.push(
    'rm -f "$SPIKE_STOP_FILE"',
    'child=""',
    'on_usr1() {',
    '  echo "spike-studio: USR1 at $(date -Is): checkpoint at the next step, then stop" >&2',
    '  touch "$SPIKE_STOP_FILE"',
    distributed ? '  :  # srun torchrun: rank 0 sees SPIKE_STOP_FILE (shared filesystem)' : '  [ -n "$child" ] && kill -USR1 "$child" 2>/dev/null',
    '}',
    'trap on_usr1 USR1',
    'if [ -f "$RUN_DIR/checkpoints/last.pt" ]; then',
    '  ARGS=(train --resume "$RUN_DIR")',
    'else',
    '  ARGS=(train --config "$RUN_DIR/config.resolved.json" --run-dir "$RUN_DIR")',
    'fi',
    'echo "spike-studio: job ${SLURM_JOB_ID} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST}: ${ARGS[*]}" >&2',
  );
  if (distributed) {
    out.push(
      'HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
      'RDZV_PORT=$((29500 + SLURM_JOB_ID % 1000))',
      `srun --kill-on-bad-exit=1 --ntasks-per-node=1 "$PYTHON" -m torch.distributed.run --nnodes="$SLURM_JOB_NUM_NODES" --nproc_per_node=${Math.max(gpus, 1)} \\`,
      '  --rdzv_backend=c10d --rdzv_endpoint="$HEAD_NODE:$RDZV_PORT" --rdzv_id="$SLURM_JOB_ID" -m spikestudio "${ARGS[@]}" &',
    );
  } else {
    out.push('"$PYTHON" -m spikestudio "${ARGS[@]}" < /dev/null &');
  }
  out.push(
    'child=$!',
    '# wait returns early when a trap runs; wait again until the trainer has really exited',
    'while kill -0 "$child" 2>/dev/null; do wait "$child"; done',
    'wait "$child"; rc=$?',
    'if [ -f "$SPIKE_STOP_FILE" ] && [ ! -f "$STOP_REQUESTED" ] && [ -f "$RUN_DIR/checkpoints/last.pt" ] && [ "$rc" -eq 0 ]; then',
    '  echo "spike-studio: time limit or preemption: checkpoint written, requeueing job ${SLURM_JOB_ID}" >&2',
    '  scontrol requeue "$SLURM_JOB_ID"',
    '  sleep 30  # the requeue ends this script',
    'fi',
    'exit "$rc"',
    '',
  );
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------- job records

export type SlurmState =
  | 'PENDING' | 'RUNNING' | 'COMPLETING' | 'CONFIGURING' | 'SUSPENDED' | 'REQUEUED' | 'REQUEUE_HOLD' | 'RESIZING'
  | 'COMPLETED' | 'FAILED' | 'TIMEOUT' | 'PREEMPTED' | 'CANCELLED' | 'NODE_FAIL' | 'OUT_OF_MEMORY' | 'BOOT_FAIL' | 'DEADLINE'
  | string;

const ACTIVE = new Set(['PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING', 'SUSPENDED', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESIZING', 'SIGNALING', 'STAGE_OUT']);

/** Whether the job is still in the queue (waiting, running or being requeued). */
export function isActiveState(state: SlurmState | null | undefined): boolean {
  return !!state && ACTIVE.has(state);
}

export interface SlurmJobRecord {
  jobId: string;
  cluster: string;
  script: string;
  stdout: string;
  stderr: string;
  /** ms since the epoch */
  submittedAt: number;
  sweepId?: string;
  state?: SlurmState;
  reason?: string;
  nodes?: string;
  restarts?: number;
  /** ms since the epoch of the last look at the queue */
  seenAt?: number;
  /** the job left the queue; state is its final state */
  final?: boolean;
}

export function slurmDir(runDir: string): string {
  return path.join(runDir, SLURM_SUBDIR);
}

export function readJobRecord(runDir: string): SlurmJobRecord | null {
  try {
    const value = JSON.parse(fs.readFileSync(path.join(slurmDir(runDir), JOB_FILE), 'utf8')) as SlurmJobRecord;
    return typeof value?.jobId === 'string' ? value : null;
  } catch {
    return null;
  }
}

export function writeJobRecord(runDir: string, record: SlurmJobRecord): void {
  fs.mkdirSync(slurmDir(runDir), { recursive: true });
  writeFileAtomic(path.join(slurmDir(runDir), JOB_FILE), JSON.stringify(record, null, 2) + '\n');
}

/** `%j`/`%A_%a` in a log path → the job's file. */
export function jobLogPath(pattern: string, jobId: string): string {
  const [array, task] = jobId.split('_');
  return pattern.replace('%A', array).replace('%a', task ?? '').replace('%j', array);
}

/** One line for the Runs view: "PENDING (Priority) · job 12", "RUNNING on node[1-2] · job 12", "TIMEOUT · job 12". */
export function describeJob(record: SlurmJobRecord): string {
  const state = record.state ?? 'SUBMITTED';
  let text = state;
  if (state === 'PENDING' && record.reason && record.reason !== 'None') text += ` (${record.reason})`;
  if (state === 'RUNNING' && record.nodes) text += ` on ${record.nodes}`;
  if (record.restarts) text += ` · requeued ×${record.restarts}`;
  return `${text} · job ${record.jobId}`;
}

// ---------------------------------------------------------------------------------------------- running Slurm's tools

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Exec = (cmd: string, args: string[], options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }) => Promise<ExecResult>;

export const defaultExec: Exec = (cmd, args, options = {}) =>
  new Promise((resolve) => {
    execFile(cmd, args, { env: options.env ?? process.env, timeout: options.timeoutMs ?? 30_000, encoding: 'utf8', maxBuffer: 4 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? ((error as unknown as { code: number }).code) : 127) : 0;
      resolve({ code, stdout: String(stdout ?? ''), stderr: String(stderr ?? '') || (error && code === 127 ? String(error.message) : '') });
    });
  });

export class SlurmError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export const NO_SBATCH_HINT =
  'Slurm commands run on the cluster’s login node: open the folder there with Remote-SSH (Remote-SSH: Connect to Host…, then File ▸ Open Folder on the shared filesystem) and run Train on Cluster… again.';

/** Whether `cmd` is on PATH. */
export function onPath(cmd: string, env: NodeJS.ProcessEnv = process.env): boolean {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

export interface SubmitOptions {
  script: string;
  /** extra sbatch arguments before the script (e.g. ["--hold"]) */
  extraArgs?: string[];
  grace?: number;
  env?: NodeJS.ProcessEnv;
  exec?: Exec;
}

/** `sbatch --parsable --signal=B:USR1@grace --requeue SCRIPT` → the job id. Slurm's own message on refusal. */
export async function submitScript(o: SubmitOptions): Promise<string> {
  const env = o.env ?? process.env;
  if (!o.exec && !onPath('sbatch', env)) throw new SlurmError('sbatch was not found on PATH: this machine is not a Slurm login node.', NO_SBATCH_HINT);
  const args = ['--parsable', `--signal=B:USR1@${o.grace ?? DEFAULT_GRACE_S}`, '--requeue', ...(o.extraArgs ?? []), o.script];
  const r = await (o.exec ?? defaultExec)('sbatch', args, { env });
  if (r.code !== 0) {
    const message = r.stderr.trim().replace(/^sbatch: error: /gm, '') || `sbatch exited with code ${r.code}`;
    throw new SlurmError(`Slurm refused the job: ${message}`, 'Check the partition, account and QoS of the cluster profile (spikeStudio.clusters); `sinfo` lists partitions.');
  }
  const id = r.stdout.trim().split('\n').pop()?.split(';')[0]?.trim() ?? '';
  if (!/^\d+$/.test(id)) throw new SlurmError(`sbatch printed no job id: ${r.stdout.trim()}`);
  return id;
}

export interface JobState {
  state: SlurmState;
  reason?: string;
  nodes?: string;
  restarts?: number;
  /** false when the job was not found anywhere */
  found: boolean;
}

/** Parses `scontrol show job -o` output (one line of Key=Value pairs) into the fields we show. */
export function parseScontrolJob(text: string): JobState | null {
  const line = text.split('\n').find((l) => /JobId=/.test(l));
  if (!line) return null;
  const field = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(line)?.[1];
  const state = field('JobState');
  if (!state) return null;
  const nodes = field('NodeList');
  const restarts = Number(field('Restarts') ?? 0);
  return { state, reason: field('Reason'), nodes: nodes && nodes !== '(null)' ? nodes : undefined, restarts: restarts || undefined, found: true };
}

/** The job's state: squeue while queued, then scontrol (keeps finished jobs MinJobAge seconds), then sacct. */
export async function queryJob(jobId: string, options: { env?: NodeJS.ProcessEnv; exec?: Exec } = {}): Promise<JobState> {
  const exec = options.exec ?? defaultExec;
  const env = options.env ?? process.env;
  const sc = await exec('scontrol', ['show', 'job', '-o', jobId], { env });
  if (sc.code === 0) {
    const parsed = parseScontrolJob(sc.stdout);
    if (parsed) return parsed;
  }
  const sq = await exec('squeue', ['-h', '-j', jobId, '-o', '%T|%r|%N'], { env });
  const line = sq.code === 0 ? sq.stdout.trim().split('\n')[0] : '';
  if (line) {
    const [state, reason, nodes] = line.split('|');
    return { state, reason, nodes: nodes || undefined, found: true };
  }
  const sa = await exec('sacct', ['-n', '-P', '-X', '-j', jobId, '-o', 'State,NodeList'], { env });
  const acct = sa.code === 0 ? sa.stdout.trim().split('\n').filter(Boolean).pop() : undefined;
  if (acct) {
    const [state, nodes] = acct.split('|');
    return { state: state.split(' ')[0], nodes: nodes || undefined, found: true };
  }
  return { state: 'UNKNOWN', found: false };
}

/** Looks the job up and records what it saw in job.json; returns the updated record. */
export async function refreshJob(runDir: string, options: { env?: NodeJS.ProcessEnv; exec?: Exec; now?: () => number } = {}): Promise<SlurmJobRecord | null> {
  const record = readJobRecord(runDir);
  if (!record || record.final) return record;
  const state = await queryJob(record.jobId, options);
  const now = (options.now ?? Date.now)();
  let next: SlurmJobRecord;
  if (!state.found) {
    // gone from every source: the last state we saw is final (a job seen RUNNING that vanished ended unobserved)
    next = { ...record, final: true, seenAt: now, state: isActiveState(record.state) || !record.state ? 'UNKNOWN' : record.state };
  } else {
    next = { ...record, state: state.state, reason: state.reason, nodes: state.nodes ?? record.nodes, restarts: state.restarts ?? record.restarts, seenAt: now, final: !isActiveState(state.state) };
  }
  if (JSON.stringify({ ...next, seenAt: 0 }) !== JSON.stringify({ ...record, seenAt: 0 })) writeJobRecord(runDir, next);
  return next;
}

/** Stop: write stop-requested (so the script does not requeue), then `scancel --signal=USR1 --batch JOB`. */
export async function stopJob(runDir: string, options: { env?: NodeJS.ProcessEnv; exec?: Exec } = {}): Promise<void> {
  const record = readJobRecord(runDir);
  if (!record) throw new SlurmError(`${runDir} is not a Slurm run (no slurm/${JOB_FILE})`);
  fs.mkdirSync(slurmDir(runDir), { recursive: true });
  fs.writeFileSync(path.join(slurmDir(runDir), STOP_REQUESTED_FILE), `${new Date().toISOString()}\n`);
  const exec = options.exec ?? defaultExec;
  const state = await queryJob(record.jobId, options);
  // a job still waiting has nothing to checkpoint: cancel it outright
  const args = state.state === 'PENDING' ? [record.jobId] : ['--signal=USR1', '--batch', record.jobId];
  const r = await exec('scancel', args, { env: options.env });
  if (r.code !== 0) throw new SlurmError(`scancel failed: ${r.stderr.trim() || `exit code ${r.code}`}`);
}

/** The last lines of a file ('' when missing). */
export function tailFile(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * A job that has run for `afterMs` without the run's first event: its state, its stderr tail and the hint that
 * the run dir must be on a filesystem the compute nodes share. null while that is not (yet) the case.
 */
export function noEventsProblem(runDir: string, record: SlurmJobRecord, hasEvents: boolean, afterMs: number, now = Date.now()): string | null {
  if (hasEvents || now - record.submittedAt < afterMs) return null;
  if (record.state === 'PENDING' && !record.final) return null; // still waiting for nodes is not a problem
  const tail = tailFile(jobLogPath(record.stderr, record.jobId), 10);
  return (
    `Slurm job ${record.jobId} is ${record.state ?? 'in an unknown state'} but the run wrote no event in ${Math.round(afterMs / 1000)} s. ` +
    `The run dir (${runDir}) must be on a filesystem the compute nodes share (home or project storage, not /tmp).` +
    (tail ? `\nLast lines of ${jobLogPath(record.stderr, record.jobId)}:\n${tail}` : '')
  );
}
