// Run directories: <workspace>/.spike-studio/runs/<YYYYMMDD-HHMMSS-name>[-N]/ (contracts §3).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ResolvedConfig } from '../config/definition';
import type { RunStatus, RuntimeEvent } from '../protocol';
import { isActiveState, readJobRecord, type SlurmJobRecord } from '../cluster/slurm';
import { readMembership, type SweepMembership } from '../cluster/sweep';
import { readEvents, type RunEventSummary, summarizeRun } from './events';

export const RUNS_SUBDIR = path.join('.spike-studio', 'runs');
export const RESOLVED_CONFIG_FILE = 'config.resolved.json';
export const EVENTS_FILE = 'events.jsonl';
export const STDERR_FILE = 'stderr.log';

export interface CreatedRun {
  id: string;
  dir: string;
  /** absolute path of config.resolved.json */
  configPath: string;
  eventsPath: string;
}

export interface CreateRunOptions {
  /** the clock (tests) */
  now?: Date;
  /** runs folder (default <workspace>/.spike-studio/runs) */
  runsDir?: string;
}

export function runsDirOf(workspaceRoot: string): string {
  return path.join(workspaceRoot, RUNS_SUBDIR);
}

function twoDigits(n: number): string {
  return String(n).padStart(2, '0');
}

/** YYYYMMDD-HHMMSS in local time. */
export function runTimestamp(date: Date): string {
  const day = `${date.getFullYear()}${twoDigits(date.getMonth() + 1)}${twoDigits(date.getDate())}`;
  const time = `${twoDigits(date.getHours())}${twoDigits(date.getMinutes())}${twoDigits(date.getSeconds())}`;
  return `${day}-${time}`;
}

/** A name safe in a folder name: letters, digits, ".", "_", "-". */
export function slugifyRunName(name: string): string {
  const slug = name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '');
  return slug.slice(0, 60) || 'run';
}

/** Writes a file so that readers see either nothing or the whole content: temp file + rename. */
export function writeFileAtomic(file: string, content: string): void {
  const temp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    fs.writeFileSync(temp, content, { flag: 'wx' });
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

/** A run id is one plain folder name: no path separators, no `.`/`..`, no NUL (throws otherwise). */
export function assertSafeRunId(id: string): void {
  if (!id || id === '.' || id === '..' || /[/\\\0]/.test(id) || path.isAbsolute(id)) {
    throw new Error(`not a valid run id: ${JSON.stringify(id)}`);
  }
}

/** Whether `child` lies strictly inside `parent` (after resolving `..`). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** RUNS_DIR/<id>, refusing an id that would leave the runs folder. */
export function runDirIn(runsDir: string, id: string): string {
  assertSafeRunId(id);
  const dir = path.join(runsDir, id);
  if (!isInside(runsDir, dir)) throw new Error(`run ${JSON.stringify(id)} would be outside ${runsDir}`);
  return dir;
}

/** Makes a new folder named base, base-2, base-3, … whichever is free first; returns its name. */
function makeUniqueDir(parent: string, base: string): string {
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base}-${n}`;
    try {
      fs.mkdirSync(path.join(parent, id));
      return id;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** Creates the run directory and writes config.resolved.json (atomically). */
export function createRun(workspaceRoot: string, resolved: ResolvedConfig, name?: string, options: CreateRunOptions = {}): CreatedRun {
  const runsDir = options.runsDir ?? runsDirOf(workspaceRoot);
  fs.mkdirSync(runsDir, { recursive: true });
  const base = `${runTimestamp(options.now ?? new Date())}-${slugifyRunName(name ?? resolved.name)}`;
  assertSafeRunId(base);
  const id = makeUniqueDir(runsDir, base);
  const dir = runDirIn(runsDir, id);
  const configPath = path.join(dir, RESOLVED_CONFIG_FILE);
  writeFileAtomic(configPath, JSON.stringify(resolved, null, 2) + '\n');
  return { id, dir, configPath, eventsPath: path.join(dir, EVENTS_FILE) };
}

// ---------------------------------------------------------------------------------------------

export interface RunInfo {
  id: string;
  /** the resolved config's name (or the id when unreadable) */
  name: string;
  dir: string;
  status: RunStatus;
  bestTop1: number | null;
  /** ms since the epoch: the hello event, else the folder's creation */
  startedAt: number | null;
  lastEvent: RuntimeEvent | null;
  /** seconds */
  durationS: number | null;
  epochsCompleted: number;
  epochs: number | null;
  eventCount: number;
  skippedLines: number;
  /** the runtime's error, if it reported one */
  error: { kind: string; message: string; hint?: string } | null;
  /** the .spike.yaml the run came from */
  source: string | null;
  summary: RunEventSummary;
  /** status `failed`: why, naming the last checkpoint (describeFailure); null otherwise */
  failure: string | null;
  /** a Slurm run: its job as last seen in the queue (RUN_DIR/slurm/job.json); null for local runs */
  slurm: SlurmJobRecord | null;
  /** a sweep member: the sweep id and this member's parameters (RUN_DIR/sweep.json) */
  sweep: SweepMembership | null;
}

export interface ListRunsOptions {
  /** whether a process is alive (default: process.kill(pid, 0)) */
  isAlive?: (pid: number) => boolean;
  /** how long a run without events counts as starting (running) after its folder was made (default 60 s) */
  startupGraceMs?: number;
  now?: () => number;
  runsDir?: string;
}

export function defaultIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readResolvedConfig(dir: string): Partial<ResolvedConfig> | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, RESOLVED_CONFIG_FILE), 'utf8')) as Partial<ResolvedConfig>;
  } catch {
    return null;
  }
}

function folderBirthMs(dir: string): number | null {
  try {
    const stat = fs.statSync(dir);
    return stat.birthtimeMs || stat.mtimeMs;
  } catch {
    return null;
  }
}

/**
 * contracts §3: a `done` event decides; otherwise running while the process lives, else failed. A Slurm run is
 * running while its job is in the queue (pending, running or requeued: a requeued job's `stopped` segment is not
 * its end) and, without a `done`, failed once the job left it; its pid lives on a compute node.
 */
export function deriveStatus(summary: RunEventSummary, createdMs: number | null, options: ListRunsOptions = {}, slurm: SlurmJobRecord | null = null): RunStatus {
  if (slurm) {
    if (isActiveState(slurm.state) || (!slurm.state && !slurm.final)) return 'running';
    return summary.doneStatus ?? 'failed';
  }
  if (summary.doneStatus) return summary.doneStatus;
  if (summary.pid !== null) return (options.isAlive ?? defaultIsAlive)(summary.pid) ? 'running' : 'failed';
  const now = (options.now ?? Date.now)();
  const grace = options.startupGraceMs ?? 60_000;
  return createdMs !== null && now - createdMs < grace ? 'running' : 'failed';
}

/** Reads one run directory. */
export function readRun(dir: string, options: ListRunsOptions = {}): RunInfo {
  const { events, skipped } = readEvents(path.join(dir, EVENTS_FILE));
  const summary = summarizeRun(events);
  const config = readResolvedConfig(dir);
  const createdMs = folderBirthMs(dir);
  const id = path.basename(dir);
  const error = summary.error ? { kind: summary.error.kind, message: summary.error.message, hint: summary.error.hint } : null;
  const slurm = readJobRecord(dir);
  const status = deriveStatus(summary, createdMs, options, slurm);
  return {
    id,
    name: typeof config?.name === 'string' ? config.name : id,
    dir,
    status,
    bestTop1: summary.bestTop1,
    startedAt: summary.startedAt !== null ? summary.startedAt * 1000 : createdMs,
    lastEvent: summary.lastEvent,
    durationS: summary.durationS,
    epochsCompleted: summary.epochsCompleted,
    epochs: summary.epochs ?? (typeof config?.train?.epochs === 'number' ? config.train.epochs : null),
    eventCount: events.length,
    skippedLines: skipped,
    error,
    source: typeof config?.source === 'string' ? config.source : null,
    summary,
    failure: status === 'failed' ? describeFailure({ dir, summary, status, error }) : null,
    slurm,
    sweep: readMembership(dir),
  };
}

/** Every run of a workspace, newest first. A missing runs folder gives []. */
export function listRuns(workspaceRoot: string, options: ListRunsOptions = {}): RunInfo[] {
  const runsDir = options.runsDir ?? runsDirOf(workspaceRoot);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(runsDir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => readRun(path.join(runsDir, entry.name), options))
    .sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0) || b.id.localeCompare(a.id));
}

// ---------------------------------------------------------------------------------------------
// Failure, resume and delete decisions (pure: the extension shows what these return).

export const LAST_CHECKPOINT = path.join('checkpoints', 'last.pt');

/** The checkpoint a resume would continue from: the last `checkpoint` event, else checkpoints/last.pt on disk. */
export function resumeCheckpoint(run: Pick<RunInfo, 'dir' | 'summary'>): string | null {
  const event = run.summary.lastCheckpoint;
  if (event?.kind === 'last') return event.path;
  const onDisk = path.join(run.dir, LAST_CHECKPOINT);
  if (fs.existsSync(onDisk)) return onDisk;
  return event?.path ?? null;
}

/** A failed or stopped run that wrote a checkpoint can be continued with `train --resume RUN_DIR`. */
export function isResumable(run: Pick<RunInfo, 'dir' | 'summary' | 'status'>): boolean {
  if (run.status !== 'failed' && run.status !== 'stopped') return false;
  const event = run.summary.lastCheckpoint;
  return event?.kind === 'last' || fs.existsSync(path.join(run.dir, LAST_CHECKPOINT));
}

/** One sentence on why a run failed, naming the last checkpoint (for messages and tooltips). */
export function describeFailure(run: Pick<RunInfo, 'dir' | 'summary' | 'status' | 'error'>): string {
  const s = run.summary;
  const why = run.error
    ? `${run.error.kind}: ${run.error.message}`
    : s.done
      ? `ended with status ${s.done.status}`
      : s.hello
        ? 'the training process ended without finishing (killed or crashed; no `done` event)'
        : 'the training process never started (no events)';
  const cp = s.lastCheckpoint;
  const checkpoint = cp
    ? `last checkpoint: ${path.relative(run.dir, cp.path) || cp.path} (epoch ${cp.epoch}, step ${cp.step})`
    : resumeCheckpoint(run)
      ? `last checkpoint: ${LAST_CHECKPOINT}`
      : 'no checkpoint was written';
  return `${why}; ${checkpoint}.`;
}

/** Whether a run may be deleted: never while it trains. */
export function canDelete(run: Pick<RunInfo, 'status' | 'id'>): { ok: true } | { ok: false; reason: string } {
  if (run.status === 'running') return { ok: false, reason: `run ${run.id} is still running: stop it first.` };
  return { ok: true };
}

/** Deletes a run folder — only a direct child of `runsDir` (refuses anything else, symlinks included). */
export function deleteRun(runsDir: string, dir: string): void {
  const resolvedRuns = path.resolve(runsDir);
  const resolvedDir = path.resolve(dir);
  if (!isInside(resolvedRuns, resolvedDir) || path.dirname(resolvedDir) !== resolvedRuns) {
    throw new Error(`refusing to delete ${dir}: not a run folder of ${runsDir}`);
  }
  assertSafeRunId(path.basename(resolvedDir));
  const stat = fs.lstatSync(resolvedDir);
  if (!stat.isDirectory()) throw new Error(`refusing to delete ${dir}: not a folder`);
  if (!fs.existsSync(path.join(resolvedDir, RESOLVED_CONFIG_FILE)) && !fs.existsSync(path.join(resolvedDir, EVENTS_FILE))) {
    throw new Error(`refusing to delete ${dir}: not a run (no ${RESOLVED_CONFIG_FILE} or ${EVENTS_FILE})`);
  }
  fs.rmSync(resolvedDir, { recursive: true, force: true });
}

/** Reports unparsable lines of each events file once (the extension logs what `check` returns). */
export class SkippedLinesReporter {
  private readonly reported = new Set<string>();

  /** A warning the first time a run's events file has skipped lines; undefined otherwise. */
  check(run: Pick<RunInfo, 'dir' | 'skippedLines'>): string | undefined {
    if (run.skippedLines <= 0 || this.reported.has(run.dir)) return undefined;
    this.reported.add(run.dir);
    const n = run.skippedLines;
    return `${path.join(run.dir, EVENTS_FILE)}: skipped ${n} unreadable line${n === 1 ? '' : 's'} (not JSON events); the rest of the run is shown.`;
  }
}
