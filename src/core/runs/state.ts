// One run state: the single fold of a run's runtime events. The run summaries (summarizeRun), the registry's live
// Progress (status bar, notification, tree), the dashboard model and the CLI's progress line all read it.
// No node imports: the webview bundle imports this file too.
//
// Derived figures, defined here once:
// - bestTop1: the highest top-1 the run reached, over all its segments: the maximum of every `eval`'s top1 and
//   best_top1 and of `done`'s best_top1. It never goes down. The runtime's best_top1 is already the best of the
//   run (a resumed segment restores it from the checkpoint), so this only differs where the checkpoint is older
//   than the last eval (a crash between eval and checkpoint) or `done` reports none (null).
// - step / epochsCompleted: the latest position; `done`'s totals only ever raise them (a `done` of a segment that
//   failed before restoring its checkpoint says 0).
// - a new `hello` starts a new segment (a resume or a Slurm requeue appends hello … done to the same events.jsonl):
//   the earlier segment's done, error, compile and download state no longer count; its position and best stay.
//
// De-duplication by seq is not done here: it happens once where events enter (takeFresh).
import type {
  CheckpointEvent,
  DoneEvent,
  DownloadEvent,
  ErrorEvent,
  EvalEvent,
  FiringEvent,
  HelloEvent,
  ModelEvent,
  RuntimeEvent,
  StepEvent,
} from '../protocol';
import { downloadFinished } from '../runtime/download';

export interface RunState {
  /** wall time of the run's first event (seconds since the Unix epoch; the dashboard's relative-time origin) */
  t0: number | null;
  /** wall time of the latest segment's `hello` (or of the first event) */
  startedAt: number | null;
  /** wall time of the last event */
  lastEventAt: number | null;
  lastEvent: RuntimeEvent | null;
  hello: HelloEvent | null;
  model: ModelEvent | null;
  epoch: number;
  /** 0 until an `epoch` event says */
  epochs: number;
  stepsPerEpoch: number;
  /** the step within the epoch (0 at an epoch's start) */
  epochStep: number;
  step: number;
  epochsCompleted: number;
  loss: number | null;
  /** training accuracy of the last step that reported one (0..1) */
  acc: number | null;
  imgPerS: number | null;
  etaS: number | null;
  /** top-1 of the last eval */
  top1: number | null;
  bestTop1: number | null;
  lastStep: StepEvent | null;
  lastEval: EvalEvent | null;
  firing: FiringEvent | null;
  /** the current segment's error and done (a new `hello` clears them) */
  error: ErrorEvent | null;
  done: DoneEvent | null;
  /** the current segment's duration: done.duration_s, else from its start to the last event */
  durationS: number | null;
  /** the last checkpoint, `last` ones preferred over `best` ones (resume continues from checkpoints/last.pt) */
  lastCheckpoint: CheckpointEvent | null;
  /** train.compile: from the compile `phase` start until its end (or the first step); cacheDir: where it caches */
  compiling: { cacheDir: string | null } | null;
  /** data.download: the latest `download` event while a dataset is fetched or its frame cache built; null after */
  download: DownloadEvent | null;
  /** Slurm requeues (time limit, preemption): where the resumed segment started */
  requeues: { step: number; epoch: number; t: number }[];
}

export function emptyRunState(): RunState {
  return {
    t0: null, startedAt: null, lastEventAt: null, lastEvent: null, hello: null, model: null, epoch: 0, epochs: 0,
    stepsPerEpoch: 0, epochStep: 0, step: 0, epochsCompleted: 0, loss: null, acc: null, imgPerS: null, etaS: null,
    top1: null, bestTop1: null, lastStep: null, lastEval: null, firing: null, error: null, done: null, durationS: null,
    lastCheckpoint: null, compiling: null, download: null, requeues: [],
  };
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Raises bestTop1 to the highest finite candidate (it never goes down). Also for a summary's best of the same run. */
export function raiseBest(s: RunState, ...candidates: Array<number | null | undefined>): void {
  for (const x of candidates) if (finite(x) && (s.bestTop1 === null || x > s.bestTop1)) s.bestTop1 = x;
}

/** Applies one event to the state (in place) and returns it. Events must arrive fresh and in order (takeFresh). */
export function reduce<S extends RunState>(s: S, e: RuntimeEvent): S {
  s.lastEvent = e;
  if (finite(e.t)) {
    s.t0 ??= e.t;
    s.startedAt ??= e.t;
    s.lastEventAt = e.t;
  }
  switch (e.type) {
    case 'hello':
      s.hello = e;
      s.startedAt = e.t;
      s.done = null;
      s.error = null;
      s.compiling = null;
      s.download = null;
      break;
    case 'model':
      s.model = e;
      break;
    case 'requeued':
      s.requeues.push({ step: e.step, epoch: e.epoch, t: e.t });
      break;
    case 'phase':
      if (e.name === 'compile') s.compiling = e.state === 'start' ? { cacheDir: typeof e.cache_dir === 'string' ? e.cache_dir : null } : null;
      break;
    case 'download':
      s.download = downloadFinished(e) ? null : e;
      break;
    case 'epoch':
      s.download = null;
      s.epoch = e.epoch;
      s.epochs = e.epochs;
      s.stepsPerEpoch = e.steps_per_epoch;
      s.epochStep = 0;
      break;
    case 'step':
      s.download = null;
      s.compiling = null;
      s.lastStep = e;
      s.epoch = e.epoch;
      s.step = e.step;
      s.epochStep = e.epoch_step;
      s.stepsPerEpoch = e.steps_per_epoch;
      s.loss = e.loss;
      if (finite(e.acc)) s.acc = e.acc;
      s.imgPerS = e.img_per_s;
      s.etaS = e.eta_s ?? null;
      break;
    case 'eval':
      s.lastEval = e;
      s.top1 = e.top1;
      s.epochsCompleted = Math.max(s.epochsCompleted, e.epoch);
      raiseBest(s, e.top1, e.best_top1);
      break;
    case 'firing':
      s.firing = e;
      break;
    case 'checkpoint':
      if (e.kind === 'last' || s.lastCheckpoint?.kind !== 'last') s.lastCheckpoint = e;
      break;
    case 'error':
      s.error = e;
      break;
    case 'done':
      s.done = e;
      s.step = Math.max(s.step, e.steps);
      s.epochsCompleted = Math.max(s.epochsCompleted, e.epochs_completed);
      raiseBest(s, e.best_top1);
      break;
    default:
      // warnings, attention, probes, energy and future types: not part of the run state
      break;
  }
  s.durationS = s.done ? s.done.duration_s : s.startedAt !== null && s.lastEventAt !== null ? s.lastEventAt - s.startedAt : null;
  return s;
}

/** Applies events in order (they must have passed takeFresh where they entered) and returns the state. */
export function applyEvents<S extends RunState>(s: S, events: readonly RuntimeEvent[]): S {
  for (const e of events) reduce(s, e);
  return s;
}

/** Folds a whole run's events into a new state. */
export function runStateOf(events: readonly RuntimeEvent[]): RunState {
  return applyEvents(emptyRunState(), events);
}

/** Where a run's events enter, the highest seq taken so far (-1 before any). */
export interface SeqMark {
  lastSeq: number;
}

/**
 * The one de-duplication by seq, used where events enter (the registry's process, tailer and file reads; the
 * webview's host messages): returns the events of `batch` above mark.lastSeq, in seq order, each seq once, and
 * raises the mark. Entries that are not events (no numeric seq) are dropped; events at or below the mark
 * (already taken, or arriving after a later one) are dropped too.
 */
export function takeFresh(mark: SeqMark, batch: readonly RuntimeEvent[]): RuntimeEvent[] {
  const candidates = batch.filter((e) => typeof e === 'object' && e !== null && finite(e.seq) && e.seq > mark.lastSeq);
  candidates.sort((a, b) => a.seq - b.seq);
  const fresh: RuntimeEvent[] = [];
  for (const e of candidates) {
    if (e.seq <= mark.lastSeq) continue;
    mark.lastSeq = e.seq;
    fresh.push(e);
  }
  return fresh;
}
