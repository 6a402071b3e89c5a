// The two protocols of Spike Studio, in one place:
//  1. runtime → extension: JSON-lines events on the runtime's stdout (and in DIR/events.jsonl),
//     runtime ← extension: JSON-lines control messages on the runtime's stdin;
//  2. extension ↔ webview: postMessage messages.
// The events' types are generated from their one source, runtime/spikestudio/schemas/events.schema.json, into
// protocol.events.generated.ts (node scripts/gen-protocol.mjs; edit the schema, never the generated file) and
// re-exported here. Extend, don't break: add optional fields or new event types, and bump PROTOCOL_VERSION only for
// incompatible changes.

import type { DoneStatus, LayerInfo, ModelEvent, RuntimeEvent } from './protocol.events.generated';
import type { ExperimentsTable } from './runs/tableModel';

export * from './protocol.events.generated';

export const PROTOCOL_VERSION = 1;

export type RunStatus = 'running' | DoneStatus;

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
export interface GraphModel
  extends Pick<ModelEvent, 'arch' | 'variant' | 'params' | 'time_steps' | 'num_classes' | 'token_grid' | 'layers' | 'edges' | 'graph'> {
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
