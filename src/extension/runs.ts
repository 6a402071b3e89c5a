// The run registry: every run the extension knows of (listed from the runs folders), the training
// processes it started (one per run id), and each opened run's events (kept in memory, appended live).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunStatus, RunSummary, RuntimeEvent } from '../core/protocol';
import {
  emptyRunState,
  EVENTS_FILE,
  EventTailer,
  listRuns,
  readEvents,
  reduce,
  SkippedLinesReporter,
  takeFresh,
  type CreatedRun,
  type RunInfo,
  type RunState,
  type SeqMark,
} from '../core/runs';
import type { TrainingProcess } from '../core/runtime';
import { config } from './config';
import { Disposable } from './dispose';

/** What the status bar, progress notification and tree show for a run that is training now: the run state of
 *  the events its process sent (state.ts). */
export type Progress = RunState;

export interface ActiveRun {
  readonly id: string;
  readonly name: string;
  readonly dir: string;
  /** the .spike.yaml it came from */
  readonly source: string | null;
  readonly process: TrainingProcess;
  readonly progress: Progress;
  status: RunStatus;
  stopRequested: boolean;
}

interface EventLog extends SeqMark {
  events: RuntimeEvent[];
  tailer?: EventTailer;
}

export interface RunEvents {
  runId: string;
  events: RuntimeEvent[];
}

export class RunRegistry extends Disposable {
  private readonly active = new Map<string, ActiveRun>();
  private readonly logs = new Map<string, EventLog>();
  private infos = new Map<string, RunInfo>();
  private readonly skipped = new SkippedLinesReporter();

  /** how Stop reaches a Slurm run (set by the composition root) */
  stopSlurm: ((run: RunInfo) => Promise<void>) | undefined;

  /** log: where unreadable events.jsonl lines are reported (once per file) */
  constructor(private readonly log?: { warn(message: string): void; info(message: string): void }) {
    super();
  }

  private readonly _onDidAppend = this._register(new vscode.EventEmitter<RunEvents>());
  /** new events of a run whose events are loaded (see eventsOf) */
  readonly onDidAppend = this._onDidAppend.event;
  private readonly _onDidChangeRuns = this._register(new vscode.EventEmitter<void>());
  /** a run was added, started, ended or removed */
  readonly onDidChangeRuns = this._onDidChangeRuns.event;
  private readonly _onDidChangeStatus = this._register(new vscode.EventEmitter<RunSummary>());
  readonly onDidChangeStatus = this._onDidChangeStatus.event;
  private readonly _onDidProgress = this._register(new vscode.EventEmitter<ActiveRun>());
  /** an active run's progress changed (epoch, step, eval) */
  readonly onDidProgress = this._onDidProgress.event;

  /** The runs folders of every workspace folder (contracts §3; spikeStudio.runsDirectory overrides). */
  runsDirs(): { root: string; runsDir: string | undefined }[] {
    return (vscode.workspace.workspaceFolders ?? [])
      .filter((f) => f.uri.scheme === 'file' || f.uri.scheme === 'vscode-remote')
      .map((f) => ({ root: f.uri.fsPath, runsDir: config.runsDirectory(f.uri.fsPath, f.uri) }));
  }

  /** Lists every run again from disk, newest first. */
  list(): RunInfo[] {
    const all: RunInfo[] = [];
    for (const { root, runsDir } of this.runsDirs()) {
      try {
        all.push(...listRuns(root, runsDir ? { runsDir } : {}));
      } catch {
        // an unreadable folder lists as empty
      }
    }
    for (const run of all) {
      const active = this.active.get(run.id);
      if (active && active.status === 'running') run.status = 'running';
      const skipped = this.skipped.check(run);
      if (skipped) this.log?.warn(skipped);
    }
    all.sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0) || b.id.localeCompare(a.id));
    this.infos = new Map(all.map((r) => [r.id, r]));
    return all;
  }

  get(runId: string): RunInfo | undefined {
    const cached = this.infos.get(runId);
    if (cached) return cached;
    this.list();
    return this.infos.get(runId);
  }

  summary(runId: string): RunSummary | undefined {
    const active = this.active.get(runId);
    const info = this.get(runId);
    if (!info && !active) return undefined;
    return {
      id: runId,
      name: active?.name ?? info?.name ?? runId,
      status: active?.status ?? info?.status ?? 'running',
      dir: active?.dir ?? info?.dir ?? '',
      bestTop1: active?.progress.bestTop1 ?? info?.bestTop1 ?? null,
    };
  }

  summaries(): RunSummary[] {
    const ids = new Set([...this.active.keys(), ...this.infos.keys()]);
    return [...ids].map((id) => this.summary(id)).filter((s): s is RunSummary => s !== undefined);
  }

  activeRuns(): ActiveRun[] {
    return [...this.active.values()].filter((r) => r.status === 'running');
  }

  activeRun(runId: string): ActiveRun | undefined {
    return this.active.get(runId);
  }

  /** The run the status bar and "Open Dashboard" default to: the newest active one, else the newest run. */
  defaultRunId(): string | undefined {
    const active = this.activeRuns();
    if (active.length) return active[active.length - 1].id;
    return this.list()[0]?.id;
  }

  /** Replaces the events of a pseudo-run that has no folder (e.g. `onnx:<file>`, an ONNX inspection) and
   *  tells the panels showing it (they reload it). */
  putEvents(runId: string, events: RuntimeEvent[]): void {
    const existing = this.logs.get(runId);
    existing?.tailer?.dispose();
    const log: EventLog = { events: [], lastSeq: -1 };
    this.logs.set(runId, log);
    this.appendTo(runId, log, events, false);
    if (existing) this._onDidAppend.fire({ runId, events: [...log.events] });
  }

  /** A run's events so far; loads events.jsonl on first use and follows it while another process writes it. */
  eventsOf(runId: string): RuntimeEvent[] {
    const existing = this.logs.get(runId);
    if (existing) return existing.events;
    const info = this.get(runId);
    const log: EventLog = { events: [], lastSeq: -1 };
    this.logs.set(runId, log);
    if (!info) return log.events;
    const file = path.join(info.dir, EVENTS_FILE);
    this.appendTo(runId, log, readEvents(file).events, false);
    if (info.status === 'running' && !this.active.has(runId)) {
      // started elsewhere (the CLI, another window): follow the file; seq numbers drop what we already have
      const tailer = new EventTailer(file).start();
      tailer.onEvents((batch) => {
        this.appendTo(runId, log, batch, true);
        // a Slurm run's `done` may end a segment only (time limit, preemption: the job requeues and appends more)
        if (batch.some((e) => e.type === 'done') && !info.slurm) {
          tailer.dispose();
          log.tailer = undefined;
          this.refresh();
        }
      });
      log.tailer = tailer;
    }
    return log.events;
  }

  /**
   * After a window reload: runs without `done` whose runtime still lives (hello.pid) are running; follow their
   * events.jsonl so the dashboard and the tree re-attach. Returns their ids.
   */
  reattach(): string[] {
    const ids: string[] = [];
    for (const run of this.list()) {
      if (run.status !== 'running' || this.active.has(run.id) || run.summary.pid === null) continue;
      this.eventsOf(run.id); // starts an EventTailer for a running run
      this.log?.info(`run ${run.id}: still running (pid ${run.summary.pid}); following ${path.join(run.dir, EVENTS_FILE)}`);
      ids.push(run.id);
    }
    return ids;
  }

  /** Takes charge of a training process the extension started. */
  track(run: CreatedRun, name: string, source: string | null, process: TrainingProcess): ActiveRun {
    const active: ActiveRun = {
      id: run.id,
      name,
      dir: run.dir,
      source,
      process,
      status: 'running',
      stopRequested: false,
      progress: emptyRunState(),
    };
    this.active.set(run.id, active);
    const log: EventLog = { events: [], lastSeq: -1 };
    this.logs.get(run.id)?.tailer?.dispose();
    this.logs.set(run.id, log);
    // a resumed run appends to its events.jsonl: keep what it has (seq numbers continue, so nothing doubles)
    this.appendTo(run.id, log, readEvents(run.eventsPath).events, false);
    const sub = process.onEvent((event) => {
      for (const e of this.appendTo(run.id, log, [event], true)) this.updateProgress(active, e);
    });
    const exitSub = process.onExit(() => {
      sub.dispose();
      exitSub.dispose();
      // progress holds this process's events only (a resumed run's earlier segments are not in it)
      active.status = active.progress.done?.status ?? 'failed';
      this.refresh();
      const summary = this.summary(run.id);
      if (summary) this._onDidChangeStatus.fire(summary);
      this._onDidProgress.fire(active);
    });
    this.refresh();
    const summary = this.summary(run.id);
    if (summary) this._onDidChangeStatus.fire(summary);
    return active;
  }

  /** Asks a run to stop (finish the step, checkpoint, exit). Returns false when it is not ours or not running. */
  stop(runId: string): boolean {
    const run = this.active.get(runId);
    if (!run) {
      const info = this.get(runId);
      // a Slurm run: scancel --signal=USR1 --batch (the batch script forwards it; checkpoint, then stopped)
      if (info?.slurm && info.status === 'running' && this.stopSlurm) {
        void this.stopSlurm(info);
        return true;
      }
      // a run this window re-attached to (started before a reload, or elsewhere): SIGTERM is a graceful stop
      const pid = info?.summary.pid;
      if (info?.status !== 'running' || !pid) return false;
      try {
        process.kill(pid, 'SIGTERM');
        return true;
      } catch {
        return false;
      }
    }
    if (run.status !== 'running') return false;
    run.stopRequested = true;
    run.process.stop();
    this._onDidProgress.fire(run);
    return true;
  }

  /** Re-lists the runs and tells the views. */
  refresh(): void {
    for (const run of this.list()) {
      // a Slurm run's job left the queue: stop following its events.jsonl
      const log = this.logs.get(run.id);
      if (log?.tailer && run.slurm?.final) {
        void log.tailer.poll().then(() => {
          log.tailer?.dispose();
          log.tailer = undefined;
        });
      }
    }
    this._onDidChangeRuns.fire();
  }

  override dispose(): void {
    for (const run of this.active.values()) {
      // a window reload or shutdown does not end a run the user did not stop: the runtime is detached, survives its
      // closed pipes, keeps writing events.jsonl, and the next window re-attaches (reattach()). Stop stops it.
      run.process.dispose();
    }
    for (const log of this.logs.values()) log.tailer?.dispose();
    super.dispose();
  }

  /** Where a run's events enter (file, tailer, process): only those above its last seq are kept. Returns them. */
  private appendTo(runId: string, log: EventLog, batch: readonly RuntimeEvent[], notify: boolean): RuntimeEvent[] {
    const fresh = takeFresh(log, batch);
    if (!fresh.length) return fresh;
    log.events.push(...fresh);
    if (notify) this._onDidAppend.fire({ runId, events: fresh });
    return fresh;
  }

  private updateProgress(run: ActiveRun, e: RuntimeEvent): void {
    reduce(run.progress, e);
    if (!PROGRESS_EVENTS.has(e.type) || (e.type === 'phase' && e.name !== 'compile')) return; // not shown
    this._onDidProgress.fire(run);
    if (e.type === 'eval' || e.type === 'epoch') this._onDidChangeRuns.fire();
  }
}

/** the events that change what the status bar, the notification and the tree show */
const PROGRESS_EVENTS = new Set<RuntimeEvent['type']>(['epoch', 'phase', 'download', 'step', 'eval', 'done']);
