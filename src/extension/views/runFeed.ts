// Feeds one webview with a run's events, the protocol shared by the visualisation panels (views/panels.ts) and the
// side panel (views/sidePanel.ts): ready handshake with a 2 s fallback, an init snapshot, {type:'events'} batches
// and {type:'runStatus'} updates at most 10 times a second, held while the webview is hidden or not ready (VS Code
// drops messages to hidden webviews; an overlong backlog becomes a fresh init), and optionally the graph of a config
// file, redrawn (debounced) when it changes. The owner keeps the webview, its messages and what it shows.
import { PROTOCOL_VERSION } from '../../core/protocol';
import type { HostToWebview, RuntimeEvent } from '../../core/protocol';
import type { Ctx } from '../ctx';
import { Disposable } from '../dispose';
import { graphOfConfig } from './panels';

const FLUSH_INTERVAL_MS = 100; // ≤ 10 Hz
const MAX_PENDING = 5000;
const GRAPH_DEBOUNCE_MS = 300;
const READY_FALLBACK_MS = 2000;

export interface RunFeedHost {
  /** names the webview in log lines ("graph", "side panel") */
  readonly label: string;
  /** whether the snapshot (on ready) starts with the graph of the shown config */
  readonly snapshotGraph: boolean;
  /** the *.spike.yaml whose graph is shown, if any */
  source(): string | undefined;
  /** whether the webview is visible now */
  visible(): boolean;
  post(message: HostToWebview): void;
  /** energy panel: the compared runs' events sent with init (absent or empty: none) */
  compared?(): { runId: string; events: RuntimeEvent[] }[];
}

export class RunFeed extends Disposable {
  /** the webview said ready (or the fallback assumed it) and has not been hidden or re-created since */
  ready = false;
  private shownRunId: string | undefined;
  private pending: RuntimeEvent[] = [];
  private needsInit = false;
  private statusDirty = false;
  private graphDirty = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private graphTimer: NodeJS.Timeout | undefined;
  private readyFallback: NodeJS.Timeout | undefined;
  private lastFlush = 0;

  constructor(
    private readonly ctx: Ctx,
    private readonly host: RunFeedHost,
  ) {
    super();
    this._register(
      ctx.runs.onDidAppend(({ runId, events }) => {
        if (runId !== this.shownRunId) return;
        if (this.pending.length + events.length > MAX_PENDING) {
          this.pending = [];
          this.needsInit = true;
        } else {
          this.pending.push(...events);
        }
        this.scheduleFlush();
      }),
    );
    this._register(
      ctx.runs.onDidChangeStatus((run) => {
        if (run.id !== this.shownRunId) return;
        this.statusDirty = true;
        this.scheduleFlush();
      }),
    );
    this._register({
      dispose: () => {
        for (const t of [this.flushTimer, this.graphTimer, this.readyFallback]) if (t) clearTimeout(t);
      },
    });
  }

  get runId(): string | undefined {
    return this.shownRunId;
  }

  /** Follows another run (or none): drops what was held for the previous one. Sends nothing. */
  setRun(runId: string | undefined): void {
    this.shownRunId = runId;
    this.pending = [];
    this.needsInit = false;
    this.statusDirty = false;
    if (runId) this.ctx.runs.eventsOf(runId); // load now, so live appends are tracked from here on
  }

  /** The webview posted {type:'ready'}: it gets the snapshot. */
  onReady(v: unknown): void {
    if (this.readyFallback) clearTimeout(this.readyFallback);
    this.readyFallback = undefined;
    this.ready = true;
    if (v !== PROTOCOL_VERSION) this.ctx.log.warn(`${this.host.label} webview speaks protocol v${String(v)}, host v${PROTOCOL_VERSION}`);
    this.sendSnapshot();
  }

  /** The webview became visible: a re-created one says ready; a retained one does not, so send the snapshot anyway after a while. */
  armReadyFallback(): void {
    if (this.readyFallback) clearTimeout(this.readyFallback);
    this.readyFallback = setTimeout(() => {
      this.readyFallback = undefined;
      if (!this.ready && this.host.visible()) {
        this.ready = true;
        this.sendSnapshot();
      }
    }, READY_FALLBACK_MS);
  }

  private sendSnapshot(): void {
    if (this.host.snapshotGraph) this.sendGraph();
    this.sendInit();
  }

  sendGraph(): void {
    this.graphDirty = false;
    const source = this.host.source();
    if (!source) return;
    try {
      this.host.post(graphOfConfig(source));
    } catch (error) {
      this.ctx.log.error(`graph of ${source}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }

  /** The shown config changed: redraw its graph after a short quiet time (and only when ready and visible). */
  scheduleGraph(): void {
    if (this.graphTimer) return;
    this.graphTimer = setTimeout(() => {
      this.graphTimer = undefined;
      this.graphDirty = true;
      this.flush();
    }, GRAPH_DEBOUNCE_MS);
  }

  sendInit(): void {
    this.pending = [];
    this.needsInit = false;
    this.statusDirty = false;
    const events: Record<string, RuntimeEvent[]> = {};
    if (this.shownRunId) events[this.shownRunId] = [...this.ctx.runs.eventsOf(this.shownRunId)];
    const compared = this.host.compared?.() ?? [];
    this.host.post({ type: 'init', v: PROTOCOL_VERSION, runs: this.ctx.runs.summaries(), events, ...(compared.length ? { compared } : {}) });
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    const wait = Math.max(0, FLUSH_INTERVAL_MS - (Date.now() - this.lastFlush));
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, wait);
  }

  private flush(): void {
    if (!this.ready || !this.host.visible()) return; // held until visible and ready
    this.lastFlush = Date.now();
    if (this.graphDirty) this.sendGraph();
    const runId = this.shownRunId;
    if (!runId) return;
    if (this.needsInit) {
      this.sendInit();
      return;
    }
    if (this.pending.length) {
      const events = this.pending;
      this.pending = [];
      this.host.post({ type: 'events', runId, events });
    }
    if (this.statusDirty) {
      this.statusDirty = false;
      const run = this.ctx.runs.summary(runId);
      if (run) this.host.post({ type: 'runStatus', run });
    }
  }
}
