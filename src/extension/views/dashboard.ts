// The dashboard panel (one instance): shows one run's curves, KPIs and firing rates, or several runs' curves
// compared (spikeStudio.compareRuns; the first run is the primary one: header, KPIs, firing rates).
// Ready handshake: the webview posts {type:'ready'}; only then does the host send {type:'init'} with the
// run's events so far, followed by {type:'events'} batches at most 10 times a second. Batches are held while
// the panel is hidden (VS Code drops messages to hidden webviews) and flushed when it is visible again.
// The webview keeps its state with setState; the serializer reopens the panel after a reload.
// Exports: the webview posts {type:'export'} (PNG data URL or CSV text); the host asks where with showSaveDialog
// and writes through workspace.fs (a temporary file renamed over the target, so a failed write leaves no half file).
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
  shown?: Array<{ runId?: unknown }>;
}

/** Exports larger than this are refused (a PNG of four charts is well under 5 MB, CSV of 5 × 100k points ~40 MB). */
const MAX_EXPORT_CHARS = 256 * 1024 * 1024;

function isWebviewMessage(m: unknown): m is WebviewToHost {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

export class DashboardPanel extends Disposable {
  private static current: DashboardPanel | undefined;

  private runId: string | undefined;
  /** every run shown: runId first, then the compared ones */
  private runIds: string[] = [];
  private ready = false;
  private pending = new Map<string, RuntimeEvent[]>();
  private pendingCount = 0;
  private needsInit = false;
  private statusDirty = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private lastFlush = 0;
  private readyFallback: NodeJS.Timeout | undefined;
  private wasVisible = true;

  /** Opens (or reuses) the panel on a run, or on several runs compared (an array: the first is the primary one). */
  static createOrShow(ctx: Ctx, runId?: string | string[]): DashboardPanel {
    const id = Array.isArray(runId) ? (runId.length ? runId : undefined) : (runId ?? ctx.runs.defaultRunId());
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
    const compared = Array.isArray(saved.shown)
      ? saved.shown.map((s) => s?.runId).filter((id): id is string => typeof id === 'string' && ctx.runs.get(id) !== undefined)
      : [];
    const runId: string | string[] | undefined =
      compared.length > 1 ? compared : typeof saved.runId === 'string' && ctx.runs.get(saved.runId) ? saved.runId : ctx.runs.defaultRunId();
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
    runId: string | string[] | undefined,
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
        if (!this.runIds.includes(id)) return;
        if (this.pendingCount + events.length > MAX_PENDING) {
          this.pending.clear();
          this.pendingCount = 0;
          this.needsInit = true;
        } else {
          const list = this.pending.get(id) ?? [];
          list.push(...events);
          this.pending.set(id, list);
          this.pendingCount += events.length;
        }
        this.scheduleFlush();
      }),
    );
    this._register(
      ctx.runs.onDidChangeStatus((run) => {
        if (!this.runIds.includes(run.id)) return;
        this.updateTitle();
        this.statusDirty.add(run.id);
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

  /** Every run shown (the primary one first). */
  get shownRunIds(): readonly string[] {
    return this.runIds;
  }

  /** Switches the panel to another run, or to several compared runs (or refreshes the same ones). */
  show(runId: string | string[] | undefined): void {
    const ids = Array.isArray(runId) ? runId : runId ? [runId] : [];
    if (ids.length === this.runIds.length && ids.every((id, i) => id === this.runIds[i])) return;
    this.setRun(runId);
    if (this.ready) this.sendInit();
  }

  private setRun(runId: string | string[] | undefined): void {
    const ids = [...new Set(Array.isArray(runId) ? runId : runId ? [runId] : [])];
    this.runIds = ids;
    this.runId = ids[0];
    this.pending.clear();
    this.pendingCount = 0;
    this.needsInit = false;
    this.statusDirty.clear();
    for (const id of ids) this.ctx.runs.eventsOf(id); // load now, so live appends are tracked from here on
    this.updateTitle();
  }

  private updateTitle(): void {
    const summary = this.runId ? this.ctx.runs.summary(this.runId) : undefined;
    this.panel.title = !summary ? 'Spike Studio' : this.runIds.length > 1 ? `Spike Studio: ${summary.name} + ${this.runIds.length - 1}` : `Spike Studio: ${summary.name}`;
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
      case 'export':
        void this.saveExport(m).catch((error: unknown) => {
          this.ctx.log.error(`dashboard export failed: ${String(error)}`);
          void vscode.window.showErrorMessage(`Spike Studio: export failed: ${error instanceof Error ? error.message : String(error)}`);
        });
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

  /** Asks where to save an export and writes it: a temporary file next to the target, renamed over it. */
  private async saveExport(m: Extract<WebviewToHost, { type: 'export' }>): Promise<void> {
    if ((m.format !== 'png' && m.format !== 'csv') || typeof m.data !== 'string' || m.data.length > MAX_EXPORT_CHARS) return;
    let bytes: Uint8Array;
    if (m.format === 'png') {
      const match = /^data:image\/png;base64,([A-Za-z0-9+/=]*)$/.exec(m.data);
      if (!match) throw new Error('the chart image is not a PNG data URL');
      bytes = Buffer.from(match[1], 'base64');
    } else {
      bytes = Buffer.from(m.data, 'utf8');
    }
    const name = (typeof m.name === 'string' && m.name ? m.name : `spike-studio-curves.${m.format}`).replace(/[\\/:*?"<>|]+/g, '_');
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
      title: m.format === 'png' ? 'Export the charts as PNG' : 'Export the curves as CSV',
      saveLabel: 'Export',
      ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
      filters: m.format === 'png' ? { 'PNG image': ['png'] } : { CSV: ['csv'] },
    });
    if (!target) return;
    await writeAtomic(target, bytes);
    this.ctx.log.info(`dashboard: exported ${m.format.toUpperCase()} (${bytes.length} bytes) to ${target.toString(true)}`);
    void vscode.window.showInformationMessage(`Spike Studio: exported ${vscode.workspace.asRelativePath(target)}`);
  }

  private sendInit(): void {
    this.pending.clear();
    this.pendingCount = 0;
    this.needsInit = false;
    this.statusDirty.clear();
    const events: Record<string, RuntimeEvent[]> = {};
    for (const id of this.runIds) events[id] = [...this.ctx.runs.eventsOf(id)];
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
    for (const [runId, events] of this.pending) if (events.length) this.post({ type: 'events', runId, events });
    this.pending.clear();
    this.pendingCount = 0;
    for (const id of this.statusDirty) {
      const run = this.ctx.runs.summary(id);
      if (run) this.post({ type: 'runStatus', run });
    }
    this.statusDirty.clear();
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

/** Writes `bytes` to `target` via a temporary sibling renamed over it; falls back to a direct write where rename fails. */
export async function writeAtomic(target: vscode.Uri, bytes: Uint8Array): Promise<void> {
  const dir = vscode.Uri.joinPath(target, '..');
  const base = target.path.split('/').pop() ?? 'export';
  const tmp = vscode.Uri.joinPath(dir, `.${base}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    await vscode.workspace.fs.writeFile(tmp, bytes);
    await vscode.workspace.fs.rename(tmp, target, { overwrite: true });
  } catch (error) {
    await vscode.workspace.fs.delete(tmp).then(undefined, () => undefined);
    try {
      await vscode.workspace.fs.writeFile(target, bytes);
    } catch {
      throw error;
    }
  }
}
