// The dashboard panel (one instance): shows one run's curves, KPIs and firing rates, or several runs' curves
// compared (spikeStudio.compareRuns; the first run is the primary one: header, KPIs, firing rates). What it shows
// arrives through a RunFeed (views/runFeed.ts: ready handshake, init, events batches, held while hidden) like every
// panel's; this file keeps the panel's own parts: its lifecycle and title, the serializer that reopens it after a
// reload (from the state the webview keeps with setState), and exports.
// Exports: the webview posts {type:'export'} (PNG data URL or CSV text); the host asks where with showSaveDialog
// and writes through workspace.fs (a temporary file renamed over the target, so a failed write leaves no half file).
import * as vscode from 'vscode';
import type { HostToWebview, WebviewToHost } from '../../core/protocol';
import type { Ctx } from '../ctx';
import { Disposable } from '../dispose';
import { webviewHtml, webviewOptions } from './html';
import { isWebviewMessage, RunFeed } from './runFeed';

export const DASHBOARD_VIEW_TYPE = 'spikeStudio.dashboard';

interface SavedState {
  runId?: string | null;
  shown?: Array<{ runId?: unknown }>;
}

/** Exports larger than this are refused (a PNG of four charts is well under 5 MB, CSV of 5 × 100k points ~40 MB). */
const MAX_EXPORT_CHARS = 256 * 1024 * 1024;

export class DashboardPanel extends Disposable {
  private static current: DashboardPanel | undefined;

  private readonly feed: RunFeed;

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
    this.feed = this._register(
      new RunFeed(ctx, {
        label: 'dashboard',
        snapshotGraph: false,
        source: () => undefined,
        visible: () => panel.visible,
        post: (message) => this.post(message),
      }),
    );
    this.feed.followPanel(panel);
    this.setRun(runId);
    panel.webview.html = webviewHtml(panel.webview, ctx.extensionUri, 'dashboard', 'Spike Studio dashboard');

    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)));
    this._register(
      ctx.runs.onDidChangeStatus((run) => {
        if (this.feed.runIds.includes(run.id)) this.updateTitle(); // the feed posts the status
      }),
    );
    this._register(vscode.window.onDidChangeActiveColorTheme(() => this.post({ type: 'theme' })));
    this._register({
      dispose: () => {
        if (DashboardPanel.current === this) DashboardPanel.current = undefined;
      },
    });
  }

  get shownRunId(): string | undefined {
    return this.feed.runId;
  }

  /** Every run shown (the primary one first). */
  get shownRunIds(): readonly string[] {
    return this.feed.runIds;
  }

  /** Switches the panel to another run, or to several compared runs (or refreshes the same ones). */
  show(runId: string | string[] | undefined): void {
    if (this.feed.shows(runId)) return;
    this.setRun(runId);
    if (this.feed.ready) this.feed.sendInit();
  }

  private setRun(runId: string | string[] | undefined): void {
    this.feed.setRun(runId);
    this.updateTitle();
  }

  private updateTitle(): void {
    const ids = this.feed.runIds;
    const summary = ids.length ? this.ctx.runs.summary(ids[0]) : undefined;
    this.panel.title = !summary ? 'Spike Studio' : ids.length > 1 ? `Spike Studio: ${summary.name} + ${ids.length - 1}` : `Spike Studio: ${summary.name}`;
  }

  private onMessage(m: unknown): void {
    if (!isWebviewMessage(m) || this.feed.onMessage(m)) return;
    switch (m.type) {
      case 'stop':
        if (typeof m.runId === 'string') void vscode.commands.executeCommand('spikeStudio.stop', m.runId);
        return;
      case 'export':
        void this.saveExport(m).catch((error: unknown) => {
          this.ctx.log.error(`dashboard export failed: ${String(error)}`);
          void vscode.window.showErrorMessage(`Spike Studio: export failed: ${error instanceof Error ? error.message : String(error)}`);
        });
        return;
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
