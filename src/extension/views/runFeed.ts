// Feeds one webview with the events of the runs it shows (one run; the dashboard compares several, the first being
// the primary one): the protocol of the dashboard (views/dashboard.ts), the visualisation panels (views/panels.ts)
// and the side panel (views/sidePanel.ts): ready handshake with a 2 s fallback, an init snapshot, {type:'events'}
// batches and {type:'runStatus'} updates at most 10 times a second, held while the webview is hidden or not ready
// (VS Code drops messages to hidden webviews; an overlong backlog becomes a fresh init), and optionally the graph of
// a config file, redrawn (debounced) when it changes. The owner keeps the webview, its messages and what it shows.
import type * as vscode from 'vscode';
import { PROTOCOL_VERSION } from '../../core/protocol';
import type { HostToWebview, RuntimeEvent, WebviewToHost } from '../../core/protocol';
import type { Ctx } from '../ctx';
import { Disposable } from '../dispose';
import { configGraph, revealConfigKey } from './configGraph';

const FLUSH_INTERVAL_MS = 100; // ≤ 10 Hz
/** beyond this many held events, send a fresh init instead of the backlog */
const MAX_PENDING = 5000;
const GRAPH_DEBOUNCE_MS = 300;
const READY_FALLBACK_MS = 2000;

export interface RunFeedHost {
  /** names the webview in log lines ("graph", "side panel", "dashboard") */
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

/** Whatever a webview posts that has a string `type` (the owner switches on it). */
export function isWebviewMessage(m: unknown): m is WebviewToHost {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

export class RunFeed extends Disposable {
  /** the webview said ready (or the fallback assumed it) and has not been hidden or re-created since */
  ready = false;
  /** the runs shown, the primary one first */
  private shown: string[] = [];
  private pending = new Map<string, RuntimeEvent[]>();
  private pendingCount = 0;
  private needsInit = false;
  private statusDirty = new Set<string>();
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
        if (!this.shown.includes(runId)) return;
        if (this.pendingCount + events.length > MAX_PENDING) {
          this.clearPending();
          this.needsInit = true;
        } else {
          const list = this.pending.get(runId) ?? [];
          list.push(...events);
          this.pending.set(runId, list);
          this.pendingCount += events.length;
        }
        this.scheduleFlush();
      }),
    );
    this._register(
      ctx.runs.onDidChangeStatus((run) => {
        if (!this.shown.includes(run.id)) return;
        this.statusDirty.add(run.id);
        this.scheduleFlush();
      }),
    );
    this._register({
      dispose: () => {
        for (const t of [this.flushTimer, this.graphTimer, this.readyFallback]) if (t) clearTimeout(t);
      },
    });
  }

  /** The primary run shown, if any. */
  get runId(): string | undefined {
    return this.shown[0];
  }

  /** Every run shown, the primary one first. */
  get runIds(): readonly string[] {
    return this.shown;
  }

  /** Follows another run, several runs (the first is the primary one) or none: drops what was held. Sends nothing. */
  setRun(runId: string | readonly string[] | undefined): void {
    this.shown = [...new Set(typeof runId === 'string' ? [runId] : (runId ?? []))];
    this.clearPending();
    this.needsInit = false;
    for (const id of this.shown) this.ctx.runs.eventsOf(id); // load now, so live appends are tracked from here on
  }

  /** Whether `runId` names the runs shown now (a string: one run; an array: these runs in this order). */
  shows(runId: string | readonly string[] | undefined): boolean {
    const ids = typeof runId === 'string' ? [runId] : (runId ?? []);
    return ids.length === this.shown.length && ids.every((id, i) => id === this.shown[i]);
  }

  /**
   * The messages every fed webview posts: ready (it gets the snapshot), log (into the output channel under the
   * label) and revealKey (a key of the shown config in the editor). Returns whether `m` was one of them.
   */
  onMessage(m: WebviewToHost): boolean {
    switch (m.type) {
      case 'ready':
        this.onReady(m.v);
        return true;
      case 'log': {
        const text = `${this.host.label}: ${String(m.message)}`;
        if (m.level === 'error') this.ctx.log.error(text);
        else if (m.level === 'warn') this.ctx.log.warn(text);
        else this.ctx.log.info(text);
        return true;
      }
      case 'revealKey': {
        const file = this.host.source();
        if (typeof m.path === 'string' && file) {
          void revealConfigKey(file, m.path).then(undefined, (error: unknown) => this.ctx.log.warn(`reveal ${m.path} in ${file}: ${String(error)}`));
        }
        return true;
      }
      default:
        return false;
    }
  }

  private onReady(v: unknown): void {
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

  /**
   * An editor panel (without retainContextWhenHidden) is torn down while hidden: once it is shown again it will say
   * ready, and if it does not (or the message got lost) it gets the snapshot after a while.
   */
  followPanel(panel: vscode.WebviewPanel): void {
    let wasVisible = true;
    this._register(
      panel.onDidChangeViewState(() => {
        if (panel.visible && !wasVisible) {
          this.ready = false;
          this.armReadyFallback();
        }
        wasVisible = panel.visible;
      }),
    );
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
      this.host.post(configGraph(source));
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
    this.clearPending();
    this.needsInit = false;
    const events: Record<string, RuntimeEvent[]> = {};
    for (const id of this.shown) events[id] = [...this.ctx.runs.eventsOf(id)];
    const compared = this.host.compared?.() ?? [];
    this.host.post({ type: 'init', v: PROTOCOL_VERSION, runs: this.ctx.runs.summaries(), events, ...(compared.length ? { compared } : {}) });
  }

  private clearPending(): void {
    this.pending.clear();
    this.pendingCount = 0;
    this.statusDirty.clear();
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
    if (!this.shown.length) return;
    if (this.needsInit) {
      this.sendInit();
      return;
    }
    for (const [runId, events] of this.pending) if (events.length) this.host.post({ type: 'events', runId, events });
    this.pending.clear();
    this.pendingCount = 0;
    for (const id of this.statusDirty) {
      const run = this.ctx.runs.summary(id);
      if (run) this.host.post({ type: 'runStatus', run });
    }
    this.statusDirty.clear();
  }
}
