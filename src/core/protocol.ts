// The two protocols of Spike Studio, in one place:
//  1. runtime → extension: JSON-lines events on the runtime's stdout (and in DIR/events.jsonl),
//     runtime ← extension: JSON-lines control messages on the runtime's stdin;
//  2. extension ↔ webview: postMessage messages.
// The JSON Schema runtime/spikestudio/schemas/events.schema.json describes the same events; the
// TypeScript and Python tests both validate real output against it. Extend, don't break: add optional
// fields or new event types, and bump PROTOCOL_VERSION only for incompatible changes.

import type { ExperimentsTable } from './runs/tableModel';

export const PROTOCOL_VERSION = 1;

export interface EventBase {
  v: number;
  /** wall time, seconds since the epoch */
  t: number;
  /** monotonically increasing per run, starting at 0 */
  seq: number;
}

export interface GpuInfo {
  name: string;
  memory_mb: number;
  capability?: string;
}

export interface HelloEvent extends EventBase {
  type: 'hello';
  runtime_version: string;
  python: string;
  torch: string;
  device: string; // "cpu" | "cuda:0" | ...
  gpu: GpuInfo | null;
  pid: number;
  run_dir: string;
}

export type LayerKind = 'conv' | 'bn' | 'lif' | 'ssa' | 'linear' | 'pool' | 'add' | 'mlp' | 'block' | 'other';

export interface LayerInfo {
  name: string;
  kind: LayerKind | string;
  /** shape per time step, without the batch dimension */
  shape_in?: number[];
  shape_out?: number[];
  params: number;
  flops?: number;
  spiking?: boolean;
}

/** Where a run's initial weights came from (`model.init_from`). */
export interface InitFromInfo {
  /** the file loaded (absolute) */
  path: string;
  /** checkpoint: a Spike Studio training checkpoint; imported: written by import-checkpoint; reference: a
   * reference-repository state_dict converted while loading; state_dict: a bare state_dict in our names */
  kind: 'checkpoint' | 'imported' | 'reference' | 'state_dict';
  /** e.g. "stsa reference layout (ppppps/STSA_4_Asyn_SNN)", null when not converted */
  converted_from?: string | null;
  /** the reference file an imported checkpoint was converted from */
  source?: string | null;
  /** keys in the file this model does not have and that are dead in its architecture (not loaded) */
  ignored: string[];
  /** reference buffers rebuilt from the config instead of loaded */
  rebuilt?: string[];
  /** STSA: the qkv_layout the weights were trained with */
  qkv_layout?: string | null;
}

export interface ModelEvent extends EventBase {
  type: 'model';
  arch: string;
  params: number;
  time_steps: number;
  num_classes: number;
  layers: LayerInfo[];
  /** present when the run started from model.init_from */
  init_from?: InitFromInfo;
}

export interface EpochEvent extends EventBase {
  type: 'epoch';
  epoch: number; // 1-based
  epochs: number;
  steps_per_epoch: number;
  lr: number;
}

export interface StepEvent extends EventBase {
  type: 'step';
  epoch: number;
  /** global step, 1-based */
  step: number;
  epoch_step: number;
  steps_per_epoch: number;
  loss: number;
  /** training top-1 over the batches since the last step event, 0..1 */
  acc?: number;
  lr: number;
  img_per_s: number;
  eta_s?: number;
}

export interface EvalEvent extends EventBase {
  type: 'eval';
  epoch: number;
  step: number;
  loss: number;
  /** 0..1 */
  top1: number;
  top5: number;
  samples: number;
  best_top1: number;
}

export interface FiringLayer {
  name: string;
  /** mean spike rate over all time steps, 0..1 */
  rate: number;
  /** rate per time step */
  per_t?: number[];
}

export interface FiringEvent extends EventBase {
  type: 'firing';
  epoch: number;
  step: number;
  split: 'train' | 'eval';
  layers: FiringLayer[];
}

export interface AttentionEvent extends EventBase {
  type: 'attention';
  epoch: number;
  step: number;
  block: number;
  head: number;
  time_step: number;
  sample: number;
  /** token grid [rows, cols]; the map is N×N with N = rows·cols (for a mask kind: the mask's layout, see `kind`) */
  grid: [number, number];
  /** uint8-quantised N×N map (a mask kind: the N = rows·cols mask values), base64, row-major */
  map_b64: string;
  scale: number;
  /** what map_b64 holds; absent = 'map' (runs from before the field) */
  kind?: AttentionKind;
}

/**
 * 'map': an N×N map over the grid's tokens. The masks of attention that computes no map, one value each:
 * 'token_mask' per token of the [rows, cols] token grid (QKFormer's QKTA, per head); 'column_mask' per channel of the
 * head, grid [1, d] (SDT's SDSA); 'channel_mask' per channel, grid [1, C], head 0 (QKFormer's QKCA).
 */
export type AttentionKind = 'map' | 'token_mask' | 'column_mask' | 'channel_mask';
export const ATTENTION_KINDS: readonly AttentionKind[] = ['map', 'token_mask', 'column_mask', 'channel_mask'];

/**
 * The input of one attention probe sample (same `sample` numbering as AttentionEvent), emitted once at the
 * first evaluation. kind 'image': shape [C, H, W], uint8 pixels 0..255 (de-normalised), scale 255.
 * kind 'events': shape [T, 2, H, W] polarity counts, byte / 255 · scale = count.
 */
export interface ProbeEvent extends EventBase {
  type: 'probe';
  epoch: number;
  step: number;
  sample: number;
  label: number;
  shape: number[];
  kind: 'image' | 'events';
  /** uint8 values, base64, row-major in `shape` order */
  data_b64: string;
  scale: number;
}

export interface EnergyLayer {
  name: string;
  sops: number;
  macs: number;
  mj: number;
}

export interface EnergyEvent extends EventBase {
  type: 'energy';
  epoch: number;
  step: number;
  total_mj: number;
  convention: string;
  layers: EnergyLayer[];
}

export interface CheckpointEvent extends EventBase {
  type: 'checkpoint';
  epoch: number;
  step: number;
  path: string;
  kind: 'last' | 'best';
}

/**
 * A long one-off stage of the run. name 'compile' (train.compile): `start` when the training step is handed to
 * torch.compile (the compile runs during the first step), `end` after the first compiled step with its wall time
 * (compile + one step), the cache state and ok=false when compiling failed (a warning says why; training goes on
 * eagerly). Readers ignore phase names they do not know.
 */
export interface PhaseEvent extends EventBase {
  type: 'phase';
  name: 'compile' | string;
  state: 'start' | 'end';
  /** end: wall time of the phase (for compile: the first compiled step, compile included) */
  seconds?: number;
  /** end: false when the phase failed (compile: training continues eagerly) */
  ok?: boolean;
  /** compile: the torch.compile mode and backend */
  mode?: string;
  backend?: string;
  /** compile end: warm = everything came from the cache, cold = nothing did, none = a backend without a cache */
  cache?: 'warm' | 'cold' | 'partial' | 'none';
  /** compile: the folder of the compile cache (null for a backend without one) */
  cache_dir?: string | null;
  /** compile end: graphs compiled (1 for a whole-model graph; more means graph breaks) */
  graphs?: number;
}

/**
 * Fetching a dataset (data.download) or building an event dataset's frame cache, before the first epoch. stage
 * wait: another run holds the dataset's lock (this one then reuses its download); download: bytes of `file` from
 * `url` with rate and ETA (resumed_from: an interrupted download resumed with HTTP Range); verify: the publisher's
 * checksum; extract: unpacking; frames: the frame cache (samples); done: in place; reused: another run fetched it.
 * Readers ignore stages they do not know.
 */
export interface DownloadEvent extends EventBase {
  type: 'download';
  dataset: string;
  stage: 'wait' | 'download' | 'verify' | 'extract' | 'frames' | 'done' | 'reused' | string;
  file?: string;
  url?: string;
  done?: number;
  total?: number | null;
  unit?: 'bytes' | 'samples' | 'files';
  /** unit per second since this file's download (or build) started */
  rate?: number | null;
  eta_s?: number | null;
  resumed_from?: number;
}

/**
 * A Slurm job of this run was requeued (time limit or preemption: the batch script got USR1, the trainer wrote
 * checkpoints/last.pt, the job went back to the queue) and this segment resumed from that checkpoint. Emitted
 * right after the resumed segment's `hello`; the curves draw a marker at `step`.
 */
export interface RequeuedEvent extends EventBase {
  type: 'requeued';
  epoch: number;
  step: number;
  /** SLURM_RESTART_COUNT */
  restarts: number;
  job_id?: string;
}

export interface WarningEvent extends EventBase {
  type: 'warning';
  message: string;
  hint?: string;
}

export type ErrorKind =
  | 'config'
  | 'data'
  | 'environment'
  | 'nan'
  | 'oom'
  | 'internal'
  | string;

export interface ErrorEvent extends EventBase {
  type: 'error';
  kind: ErrorKind;
  message: string;
  hint?: string;
  /** user_code errors: the researcher's file and 1-based line, and what was running */
  file?: string;
  line?: number;
  stage?: 'import' | 'construct' | 'forward';
}

export type RunStatus = 'running' | 'completed' | 'stopped' | 'failed';

export interface DoneEvent extends EventBase {
  type: 'done';
  status: Exclude<RunStatus, 'running'>;
  epochs_completed: number;
  steps: number;
  best_top1: number | null;
  duration_s: number;
  last_checkpoint: string | null;
}

export type RuntimeEvent =
  | HelloEvent
  | ModelEvent
  | EpochEvent
  | StepEvent
  | EvalEvent
  | FiringEvent
  | AttentionEvent
  | ProbeEvent
  | EnergyEvent
  | CheckpointEvent
  | PhaseEvent
  | DownloadEvent
  | RequeuedEvent
  | WarningEvent
  | ErrorEvent
  | DoneEvent;

export type RuntimeEventType = RuntimeEvent['type'];

export const RUNTIME_EVENT_TYPES: readonly RuntimeEventType[] = [
  'hello',
  'model',
  'epoch',
  'step',
  'eval',
  'firing',
  'attention',
  'probe',
  'energy',
  'checkpoint',
  'phase',
  'download',
  'requeued',
  'warning',
  'error',
  'done',
];

/** Control lines written to the runtime's stdin, one JSON object per line. */
export type ControlMessage =
  | { type: 'stop' }
  | { type: 'probe'; sample: number };

// ---------------------------------------------------------------------------------------------
// extension ↔ webview

export interface RunSummary {
  id: string;
  name: string;
  status: RunStatus;
  dir: string;
  bestTop1: number | null;
}

/**
 * The architecture graph panel's model: src/core/arch predictModel's layer list for a config (no Python), or the
 * runtime's `model` event. `error` (with the dotted key) when the config does not describe a model.
 */
export interface GraphModel {
  arch: string;
  variant?: string;
  params: number;
  time_steps: number;
  num_classes: number;
  token_grid?: [number, number];
  layers: LayerInfo[];
  /** your own model (the runtime's describe): data-flow edges between layer names; absent for predicted graphs */
  edges?: Array<[string, string]>;
  /** how the edges were found: fx = torch.fx trace, order = module execution order, preset = a built-in preset */
  graph?: 'fx' | 'order' | 'preset';
  /** a preset's measured graph (the runtime's describe), shown beside or against the predicted `layers` */
  measured?: { params: number; layers: LayerInfo[]; edges?: Array<[string, string]>; error?: string };
}

/** host → webview */
export type HostToWebview =
  /** `events` holds one entry per run shown (several when runs are compared; the first is the primary run) */
  | {
      type: 'init';
      v: number;
      runs: RunSummary[];
      events: Record<string, RuntimeEvent[]>;
      /**
       * energy panel: the runs compared with the primary one (primary included, in the order picked), each with its
       * energy and eval events only. Optional: absent when one run is shown; older webviews ignore it.
       */
      compared?: { runId: string; events: RuntimeEvent[] }[];
    }
  | { type: 'events'; runId: string; events: RuntimeEvent[] }
  | { type: 'runStatus'; run: RunSummary }
  | { type: 'theme' }
  /** graph panel: the model of `source` (a *.spike.yaml path, or null for a run's model event) */
  | { type: 'graph'; source: string | null; name: string; model: GraphModel | null; error?: { path: string; message: string } }
  /** experiments table: every run of the workspace as rows (src/core/runs/table buildTable) */
  | { type: 'table'; table: ExperimentsTable };

/** webview → host */
export type WebviewToHost =
  | { type: 'ready'; v: number }
  | { type: 'stop'; runId: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  /** graph panel: reveal the config key (dotted path, e.g. model.depth) a node comes from */
  | { type: 'revealKey'; path: string }
  /** graph panel: measure the shown preset's graph by running the model (the host answers with a graph message) */
  | { type: 'measureGraph' }
  /**
   * dashboard: save an export through the host's save dialog (webview downloads fail, over SSH especially).
   * png: a data:image/png;base64 URL; csv: the text (run,metric,step,epoch,wall,value). `name`: a suggested file name.
   */
  | { type: 'export'; format: 'png' | 'csv'; data: string; name?: string }
  /** experiments table: open the selected runs in a comparison view (dashboard curves, or the energy panel) */
  | { type: 'compareRuns'; runIds: string[]; view: 'curves' | 'energy' };

export function isRuntimeEvent(value: unknown): value is RuntimeEvent {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return (
    typeof e.type === 'string' &&
    typeof e.v === 'number' &&
    typeof e.seq === 'number' &&
    typeof e.t === 'number'
  );
}
