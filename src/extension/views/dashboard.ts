// The dashboard panel (one instance): shows one run's curves, KPIs and firing rates.
// Ready handshake: the webview posts {type:'ready'}; only then does the host send {type:'init'} with the
// run's events so far, followed by {type:'events'} batches at most 10 times a second. Batches are held while
// the panel is hidden (VS Code drops messages to hidden webviews) and flushed when it is visible again.
// The webview keeps its state with setState; the serializer reopens the panel after a reload.
import * as vscode from 'vscode';
import { PROTOCOL_VERSION } from '../../core/protocol';
import type { HostToWebview, RuntimeEvent, WebviewToHost } from '../../core/protocol';
import type { Ctx } from '../ctx';
import { Disposable } from '../dispose';
import { webviewHtml, webviewOptions } from './html';

export const DASHBOARD_VIEW_TYPE = 'spikeStudio.dashboard';
const FLUSH_INTERVAL_MS = 100;
/** beyond this many held events, send a fresh init instead of the backlog */
const MAX_PENDING = 5000;

interface SavedState {
  runId?: string | null;
}

function isWebviewMessage(m: unknown): m is WebviewToHost {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

export class DashboardPanel extends Disposable {
  private static current: DashboardPanel | undefined;

  private runId: string | undefined;
  private ready = false;
  private pending: RuntimeEvent[] = [];
  private needsInit = false;
  private statusDirty = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private lastFlush = 0;
  private readyFallback: NodeJS.Timeout | undefined;
  private wasVisible = true;

  static createOrShow(ctx: Ctx, runId?: string): DashboardPanel {
    const id = runId ?? ctx.runs.defaultRunId();
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active;
    if (DashboardPanel.current) {
      DashboardPanel.current.panel.reveal(DashboardPanel.current.panel.viewColumn ?? column, true);
      DashboardPanel.current.show(id);
      return DashboardPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, 'Spike Studio', { viewColumn: column, preserveFocus: true }, {
      ...webviewOptions(ctx.extensionUri),
      enableFindWidget: false,
      retainContextWhenHidden: false,
    });
    DashboardPanel.current = new DashboardPanel(ctx, panel, id);
    return DashboardPanel.current;
  }

  static revive(ctx: Ctx, panel: vscode.WebviewPanel, state: unknown): DashboardPanel {
    const saved = (typeof state === 'object' && state !== null ? state : {}) as SavedState;
    const runId = typeof saved.runId === 'string' && ctx.runs.get(saved.runId) ? saved.runId : ctx.runs.defaultRunId();
    DashboardPanel.current?.dispose();
    DashboardPanel.current = new DashboardPanel(ctx, panel, runId);
    return DashboardPanel.current;
  }

  /** The panel currently open, if any (tests, commands). */
  static get instance(): DashboardPanel | undefined {
    return DashboardPanel.current;
  }

  private constructor(
    private readonly ctx: Ctx,
    readonly panel: vscode.WebviewPanel,
    runId: string | undefined,
  ) {
    super();
    this._register(panel);
    panel.webview.options = webviewOptions(ctx.extensionUri);
    panel.iconPath = vscode.Uri.joinPath(ctx.extensionUri, 'media', 'icon.svg');
    this.setRun(runId);
    panel.webview.html = webviewHtml(panel.webview, ctx.extensionUri, 'dashboard', 'Spike Studio dashboard');

    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)));
    this._register(
      panel.onDidChangeViewState(() => {
        if (panel.visible && !this.wasVisible) this.onVisible();
        this.wasVisible = panel.visible;
      }),
    );
    this._register(
      ctx.runs.onDidAppend(({ runId: id, events }) => {
        if (id !== this.runId) return;
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
        this.updateTitle();
        this.statusDirty = true;
        this.scheduleFlush();
      }),
    );
    this._register(vscode.window.onDidChangeActiveColorTheme(() => this.post({ type: 'theme' })));
    this._register({
      dispose: () => {
        if (this.flushTimer) clearTimeout(this.flushTimer);
        if (this.readyFallback) clearTimeout(this.readyFallback);
        if (DashboardPanel.current === this) DashboardPanel.current = undefined;
      },
    });
  }

  get shownRunId(): string | undefined {
    return this.runId;
  }

  /** Switches the panel to another run (or refreshes the same one). */
  show(runId: string | undefined): void {
    if (runId === this.runId) return;
    this.setRun(runId);
    if (this.ready) this.sendInit();
  }

  private setRun(runId: string | undefined): void {
    this.runId = runId;
    this.pending = [];
    this.needsInit = false;
    this.statusDirty = false;
    if (runId) this.ctx.runs.eventsOf(runId); // load now, so live appends are tracked from here on
    this.updateTitle();
  }

  private updateTitle(): void {
    const summary = this.runId ? this.ctx.runs.summary(this.runId) : undefined;
    this.panel.title = summary ? `Spike Studio: ${summary.name}` : 'Spike Studio';
  }

  private onMessage(m: unknown): void {
    if (!isWebviewMessage(m)) return;
    switch (m.type) {
      case 'ready':
        if (this.readyFallback) clearTimeout(this.readyFallback);
        this.readyFallback = undefined;
        this.ready = true;
        if (m.v !== PROTOCOL_VERSION) this.ctx.log.warn(`dashboard webview speaks protocol v${String(m.v)}, host v${PROTOCOL_VERSION}`);
        this.sendInit();
        return;
      case 'stop':
        if (typeof m.runId === 'string') void vscode.commands.executeCommand('spikeStudio.stop', m.runId);
        return;
      case 'log': {
        const text = `dashboard: ${String(m.message)}`;
        if (m.level === 'error') this.ctx.log.error(text);
        else if (m.level === 'warn') this.ctx.log.warn(text);
        else this.ctx.log.info(text);
        return;
      }
      default:
        return;
    }
  }

  private sendInit(): void {
    this.pending = [];
    this.needsInit = false;
    this.statusDirty = false;
    const events: Record<string, RuntimeEvent[]> = {};
    if (this.runId) events[this.runId] = [...this.ctx.runs.eventsOf(this.runId)];
    this.post({ type: 'init', v: PROTOCOL_VERSION, runs: this.ctx.runs.summaries(), events });
  }

  private onVisible(): void {
    // Without retainContextWhenHidden the webview was torn down and will post 'ready' again; if it was
    // not (or the message got lost), re-send everything after a short wait.
    this.ready = false;
    if (this.readyFallback) clearTimeout(this.readyFallback);
    this.readyFallback = setTimeout(() => {
      this.readyFallback = undefined;
      if (!this.ready && this.panel.visible) {
        this.ready = true;
        this.sendInit();
      }
    }, 2000);
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
    if (!this.ready || !this.panel.visible || !this.runId) return; // held until visible and ready
    this.lastFlush = Date.now();
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
    void this.panel.webview.postMessage(message).then(undefined, (error: unknown) => this.ctx.log.warn(`dashboard postMessage failed: ${String(error)}`));
  }
}

export function registerDashboardSerializer(ctx: Ctx): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
    deserializeWebviewPanel: async (panel, state) => {
      DashboardPanel.revive(ctx, panel, state);
    },
  });
}
