// The Spike Studio side panel: a webview view (spikeStudio.sidePanel, below the Runs tree) that follows the active
// *.spike.yaml editor. It shows the config's architecture graph; when the config has a run (the newest run whose
// config.resolved.json `source` is that file) it adds tabs for its curves, firing and attention, live while it trains.
// The webview (webview/sidepanel) embeds the graph, dashboard, firing and attention bundles, so the host speaks the
// same protocol as the panels (views/panels.ts): ready handshake → {type:'graph'} + {type:'init'}, then
// {type:'events'} / {type:'runStatus'} at most 10 times a second, held while the view is hidden. A webview view
// also drops messages while hidden and is re-created when shown again: it says ready again and gets a snapshot.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PROTOCOL_VERSION } from '../../core/protocol';
import type { HostToWebview, RuntimeEvent, WebviewToHost } from '../../core/protocol';
import type { Ctx } from '../ctx';
import { Disposable } from '../dispose';
import { webviewHtml, webviewOptions } from './html';
import { activeConfigPath, graphOfConfig, latestRunOf, revealConfigKey } from './panels';

export const SIDE_PANEL_VIEW_ID = 'spikeStudio.sidePanel';

const FLUSH_INTERVAL_MS = 100; // ≤ 10 Hz
const MAX_PENDING = 5000;
const GRAPH_DEBOUNCE_MS = 300;

/** What the provider posted (tests): the message type, and for graph/init messages the config or run they carry. */
export interface PostedMessage {
  type: string;
  source?: string | null;
  runId?: string | null;
  layers?: number;
}

function isWebviewMessage(m: unknown): m is WebviewToHost {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

export class SidePanelProvider extends Disposable implements vscode.WebviewViewProvider {
  private view: vscode.WebviewView | undefined;
  private source: string | undefined;
  private runId: string | undefined;
  private ready = false;
  private pending: RuntimeEvent[] = [];
  private needsInit = false;
  private statusDirty = false;
  private graphDirty = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private graphTimer: NodeJS.Timeout | undefined;
  private readyFallback: NodeJS.Timeout | undefined;
  private lastFlush = 0;
  /** the last 100 messages posted to the webview, oldest first (a test hook) */
  readonly posted: PostedMessage[] = [];

  constructor(private readonly ctx: Ctx) {
    super();
    this.follow(activeConfigPath());
    this._register(vscode.window.onDidChangeActiveTextEditor(() => this.follow(activeConfigPath())));
    this._register(
      ctx.runs.onDidChangeRuns(() => {
        const latest = this.source ? latestRunOf(ctx, this.source) : undefined;
        if (latest !== this.runId) this.setRun(latest, true);
      }),
    );
    this._register(
      ctx.runs.onDidAppend(({ runId, events }) => {
        if (runId !== this.runId) return;
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
        if (run.id !== this.runId) return;
        this.statusDirty = true;
        this.scheduleFlush();
      }),
    );
    const touched = (doc: vscode.TextDocument) => {
      if (this.source && doc.uri.scheme === 'file' && path.resolve(doc.uri.fsPath) === path.resolve(this.source)) this.scheduleGraph();
    };
    this._register(vscode.workspace.onDidChangeTextDocument((e) => touched(e.document)));
    this._register(vscode.workspace.onDidSaveTextDocument(touched));
    this._register(vscode.window.onDidChangeActiveColorTheme(() => this.post({ type: 'theme' })));
    this._register({
      dispose: () => {
        for (const t of [this.flushTimer, this.graphTimer, this.readyFallback]) if (t) clearTimeout(t);
      },
    });
  }

  static register(ctx: Ctx): { provider: SidePanelProvider; disposable: vscode.Disposable } {
    const provider = new SidePanelProvider(ctx);
    const registration = vscode.window.registerWebviewViewProvider(SIDE_PANEL_VIEW_ID, provider);
    return { provider, disposable: vscode.Disposable.from(registration, provider) };
  }

  get shownSource(): string | undefined {
    return this.source;
  }

  get shownRunId(): string | undefined {
    return this.runId;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    view.webview.options = webviewOptions(this.ctx.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.ctx.extensionUri, 'sidepanel', 'Spike Studio');
    this.updateDescription();
    const subs = [
      view.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)),
      view.onDidChangeVisibility(() => {
        if (view.visible) this.onVisible();
        else this.ready = false; // hidden: messages would be dropped; hold them until it says ready again
      }),
    ];
    view.onDidDispose(() => {
      subs.forEach((d) => d.dispose());
      if (this.view === view) this.view = undefined;
      this.ready = false;
    });
  }

  /** Follows a newly active config; a non-config editor keeps the last one shown. */
  private follow(file: string | undefined): void {
    if (!file || (this.source && path.resolve(file) === path.resolve(this.source))) return;
    this.source = file;
    this.updateDescription();
    this.setRun(latestRunOf(this.ctx, file), false);
    if (this.ready) {
      this.sendGraph();
      this.sendInit();
    }
  }

  private setRun(runId: string | undefined, send: boolean): void {
    this.runId = runId;
    this.pending = [];
    this.needsInit = false;
    this.statusDirty = false;
    if (runId) this.ctx.runs.eventsOf(runId); // load now, so live appends are tracked from here on
    if (send && this.ready) this.sendInit();
  }

  private updateDescription(): void {
    if (this.view) this.view.description = this.source ? path.basename(this.source) : undefined;
  }

  private onMessage(m: unknown): void {
    if (!isWebviewMessage(m)) return;
    switch (m.type) {
      case 'ready':
        // each embedded panel says ready once it is loaded; every one gets the same snapshot
        if (this.readyFallback) clearTimeout(this.readyFallback);
        this.readyFallback = undefined;
        if (m.v !== PROTOCOL_VERSION) this.ctx.log.warn(`side panel webview speaks protocol v${String(m.v)}, host v${PROTOCOL_VERSION}`);
        this.ready = true;
        this.sendSnapshot();
        return;
      case 'revealKey':
        if (typeof m.path === 'string' && this.source) {
          const file = this.source;
          void revealConfigKey(file, m.path).then(undefined, (error: unknown) => this.ctx.log.warn(`reveal ${m.path} in ${file}: ${String(error)}`));
        }
        return;
      case 'stop':
        if (typeof m.runId === 'string' && this.ctx.runs.stop(m.runId)) this.ctx.log.info(`run ${m.runId}: stop requested (side panel)`);
        return;
      case 'log': {
        const text = `side panel: ${String(m.message)}`;
        if (m.level === 'error') this.ctx.log.error(text);
        else if (m.level === 'warn') this.ctx.log.warn(text);
        else this.ctx.log.info(text);
        return;
      }
      default:
        // the embedded dashboard's export buttons: saving is the dashboard panel's job
        if ((m as { type: string }).type === 'export') void vscode.window.showInformationMessage('Spike Studio: export curves from the dashboard (Spike Studio: Open Dashboard).');
        return;
    }
  }

  private onVisible(): void {
    // a re-created webview says ready; a retained one does not: send the snapshot anyway after a while
    if (this.readyFallback) clearTimeout(this.readyFallback);
    this.readyFallback = setTimeout(() => {
      this.readyFallback = undefined;
      if (!this.ready && this.view?.visible) {
        this.ready = true;
        this.sendSnapshot();
      }
    }, 2000);
  }

  private sendSnapshot(): void {
    this.sendGraph();
    this.sendInit();
  }

  private sendGraph(): void {
    this.graphDirty = false;
    if (!this.source) return;
    try {
      this.post(graphOfConfig(this.source));
    } catch (error) {
      this.ctx.log.error(`graph of ${this.source}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }

  private scheduleGraph(): void {
    if (this.graphTimer) return;
    this.graphTimer = setTimeout(() => {
      this.graphTimer = undefined;
      this.graphDirty = true;
      this.flush();
    }, GRAPH_DEBOUNCE_MS);
  }

  private sendInit(): void {
    this.pending = [];
    this.needsInit = false;
    this.statusDirty = false;
    const events: Record<string, RuntimeEvent[]> = {};
    if (this.runId) events[this.runId] = [...this.ctx.runs.eventsOf(this.runId)];
    this.post({ type: 'init', v: PROTOCOL_VERSION, runs: this.ctx.runs.summaries(), events });
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
    if (!this.ready || !this.view?.visible) return; // held until visible and ready
    this.lastFlush = Date.now();
    if (this.graphDirty) this.sendGraph();
    if (!this.runId) return;
    if (this.needsInit) {
      this.sendInit();
      return;
    }
    if (this.pending.length) {
      const events = this.pending;
      this.pending = [];
      this.post({ type: 'events', runId: this.runId, events });
    }
    if (this.statusDirty) {
      this.statusDirty = false;
      const run = this.ctx.runs.summary(this.runId);
      if (run) this.post({ type: 'runStatus', run });
    }
  }

  private post(message: HostToWebview): void {
    const view = this.view;
    if (!view || !this.ready) return; // the snapshot on the next ready covers it
    const record: PostedMessage = { type: message.type };
    if (message.type === 'graph') Object.assign(record, { source: message.source, layers: message.model?.layers.length ?? 0 });
    if (message.type === 'init') record.runId = Object.keys(message.events)[0] ?? null;
    if (message.type === 'events') record.runId = message.runId;
    this.posted.push(record);
    if (this.posted.length > 100) this.posted.splice(0, this.posted.length - 100);
    void view.webview.postMessage(message).then(undefined, (error: unknown) => this.ctx.log.warn(`side panel postMessage failed: ${String(error)}`));
  }
}
