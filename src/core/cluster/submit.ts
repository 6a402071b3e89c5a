// Train on Cluster and sweeps: make run dirs, write the sbatch script, submit; run a sweep locally N at a time.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ResolvedConfig } from '../config';
import type { DoneEvent } from '../protocol';
import { createRun, type CreatedRun, runsDirOf } from '../runs/runs';
import { emptyRunState, reduce, type RunState } from '../runs/state';
import { startTraining } from '../runtime/process';
import {
  type ClusterProfile, DEFAULT_GRACE_S, type Exec, SCRIPT_FILE, sbatchScript, slurmDir, submitScript, writeJobRecord,
} from './slurm';
import { newSweepId, type SweepMember, type SweepRecord, SWEEPS_SUBDIR, writeMembership, writeSweepRecord } from './sweep';

export interface ClusterTarget {
  profile: ClusterProfile;
  /** the profile's name in spikeStudio.clusters */
  cluster: string;
  python: string;
  runtimeRoot: string;
  env?: NodeJS.ProcessEnv;
  exec?: Exec;
  /** extra sbatch arguments (e.g. ["--hold"]) */
  sbatchArgs?: string[];
}

export interface PreparedRun {
  run: CreatedRun;
  script: string;
}

/** Creates the run dir and writes RUN_DIR/slurm/job.sbatch (nothing is submitted yet). */
export function prepareClusterRun(workspaceRoot: string, resolved: ResolvedConfig, target: ClusterTarget, runsDir?: string): PreparedRun {
  const run = createRun(workspaceRoot, resolved, undefined, { runsDir });
  fs.mkdirSync(slurmDir(run.dir), { recursive: true });
  const script = path.join(slurmDir(run.dir), SCRIPT_FILE);
  fs.writeFileSync(script, sbatchScript({ profile: target.profile, runDirs: [run.dir], jobName: `spike-${resolved.name}`.slice(0, 60), python: target.python, runtimeRoot: target.runtimeRoot }), { mode: 0o755 });
  return { run, script };
}

/** Runs `submit`; when Slurm refuses, removes the folders made for the job (no run is left behind) and rethrows. */
async function submitOrRemove(folders: string[], submit: () => Promise<string>): Promise<string> {
  try {
    return await submit();
  } catch (error) {
    for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Submits a prepared run's script and records the job in RUN_DIR/slurm/job.json (a refused job: its run dir is removed). */
export async function submitPrepared(prepared: PreparedRun, target: ClusterTarget): Promise<string> {
  const jobId = await submitOrRemove([prepared.run.dir], () =>
    submitScript({ script: prepared.script, grace: target.profile.grace ?? DEFAULT_GRACE_S, extraArgs: target.sbatchArgs, env: target.env, exec: target.exec }),
  );
  const logDir = slurmDir(prepared.run.dir);
  writeJobRecord(prepared.run.dir, {
    jobId, cluster: target.cluster, script: prepared.script, submittedAt: Date.now(),
    stdout: path.join(logDir, 'slurm-%j.out'), stderr: path.join(logDir, 'slurm-%j.err'),
  });
  return jobId;
}

export interface StartedSweep {
  record: SweepRecord;
  dir: string;
  runs: CreatedRun[];
}

function sweepsDirOf(workspaceRoot: string): string {
  return path.join(workspaceRoot, SWEEPS_SUBDIR);
}

/** Creates every member's run dir (with RUN_DIR/sweep.json) and the sweep folder listing them. */
export function createSweepRuns(workspaceRoot: string, source: string, members: SweepMember[], mode: 'local' | 'slurm', runsDir?: string): StartedSweep {
  const name = members[0]?.resolved.name.replace(/-s0$/, '') ?? 'sweep';
  const id = newSweepId(name);
  const runs = members.map((m) => {
    const run = createRun(workspaceRoot, m.resolved, undefined, { runsDir: runsDir ?? runsDirOf(workspaceRoot) });
    writeMembership(run.dir, { sweepId: id, index: m.index, params: m.params });
    return run;
  });
  const record: SweepRecord = {
    id, source, createdAt: Date.now(), mode, keys: Object.keys(members[0]?.params ?? {}),
    members: members.map((m, i) => ({ index: m.index, runId: runs[i].id, runDir: runs[i].dir, params: m.params })),
  };
  const dir = writeSweepRecord(sweepsDirOf(workspaceRoot), record);
  return { record, dir, runs };
}

/** A sweep as one Slurm job array (`--array=0-N`): one member per array task, each an ordinary run dir (none left when refused). */
export async function submitSweepArray(workspaceRoot: string, source: string, members: SweepMember[], target: ClusterTarget, options: { runsDir?: string; parallel?: number } = {}): Promise<StartedSweep & { jobId: string; script: string }> {
  const sweep = createSweepRuns(workspaceRoot, source, members, 'slurm', options.runsDir);
  const script = path.join(sweep.dir, SCRIPT_FILE);
  fs.writeFileSync(script, sbatchScript({
    profile: target.profile, runDirs: sweep.runs.map((r) => r.dir), jobName: `spike-sweep-${sweep.record.id}`.slice(0, 60), python: target.python,
    runtimeRoot: target.runtimeRoot, logDir: sweep.dir, arrayParallel: options.parallel,
  }), { mode: 0o755 });
  const jobId = await submitOrRemove([...sweep.runs.map((r) => r.dir), sweep.dir], () =>
    submitScript({ script, grace: target.profile.grace ?? DEFAULT_GRACE_S, extraArgs: target.sbatchArgs, env: target.env, exec: target.exec }),
  );
  sweep.runs.forEach((run, i) => {
    writeJobRecord(run.dir, {
      jobId: `${jobId}_${i}`, cluster: target.cluster, script, submittedAt: Date.now(), sweepId: sweep.record.id,
      stdout: path.join(sweep.dir, 'slurm-%A_%a.out'), stderr: path.join(sweep.dir, 'slurm-%A_%a.err'),
    });
  });
  sweep.record.jobId = jobId;
  writeSweepRecord(sweepsDirOf(workspaceRoot), sweep.record);
  return { ...sweep, jobId, script };
}

export interface LocalSweepOptions {
  python: string;
  runtimeRoot: string;
  /** members at a time (default: one per GPU, else 1) */
  parallel?: number;
  /** GPUs of this machine (doctor): with several, each member gets one through CUDA_VISIBLE_DEVICES */
  gpus?: number;
  env?: NodeJS.ProcessEnv;
  runsDir?: string;
  onStart?: (run: CreatedRun, slot: number) => void;
  /** `state`: the member's events folded into one run state (its `done`, best top-1 and the rest as everywhere else) */
  onDone?: (run: CreatedRun, state: RunState) => void;
  /** resolves to true to stop starting new members (running ones are asked to stop) */
  cancelled?: () => boolean;
}

/** The environment of the member in `slot` (one GPU each when there are several). */
export function memberEnv(slot: number, gpus: number, base: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return gpus > 1 ? { ...base, CUDA_VISIBLE_DEVICES: String(slot % gpus) } : { ...base };
}

/** Runs a sweep's members here, `parallel` at a time; resolves with each member's `done` (null: none). */
export async function runSweepLocal(workspaceRoot: string, source: string, members: SweepMember[], o: LocalSweepOptions): Promise<StartedSweep & { done: Array<DoneEvent | null> }> {
  const sweep = createSweepRuns(workspaceRoot, source, members, 'local', o.runsDir);
  const gpus = o.gpus ?? 0;
  const parallel = Math.max(1, o.parallel ?? (gpus > 1 ? gpus : 1));
  const states = sweep.runs.map(() => emptyRunState());
  let next = 0;
  const worker = async (slot: number): Promise<void> => {
    while (next < sweep.runs.length && !o.cancelled?.()) {
      const i = next++;
      const run = sweep.runs[i];
      o.onStart?.(run, slot);
      const proc = startTraining({
        python: o.python, runtimeRoot: o.runtimeRoot, resolvedConfigPath: run.configPath, runDir: run.dir,
        cwd: workspaceRoot, env: memberEnv(slot, gpus, o.env), detached: true,
      });
      proc.onEvent((e) => reduce(states[i], e));
      await proc.exited;
      o.onDone?.(run, states[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, sweep.runs.length) }, (_, slot) => worker(slot)));
  return { ...sweep, done: states.map((s) => s.done) };
}
