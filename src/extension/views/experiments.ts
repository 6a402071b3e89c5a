// The experiments table panel (webview/experiments): every run of the workspace as a row, refreshed when runs
// change; the webview asks to compare selected runs (dashboard or energy panel) and to save a CSV (save dialog).
import * as vscode from 'vscode';
import type { HostToWebview, WebviewToHost } from '../../core/protocol';
import { buildTable } from '../../core/runs/table';
import type { Ctx } from '../ctx';
import { Disposable } from '../dispose';
import { webviewHtml, webviewOptions } from './html';

export const EXPERIMENTS_VIEW_TYPE = 'spikeStudio.experiments';

export class ExperimentsPanel extends Disposable {
  private static current: ExperimentsPanel | undefined;
  private timer: NodeJS.Timeout | undefined;

  static createOrShow(ctx: Ctx): ExperimentsPanel {
    if (ExperimentsPanel.current) {
      ExperimentsPanel.current.panel.reveal();
      ExperimentsPanel.current.send();
      return ExperimentsPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(EXPERIMENTS_VIEW_TYPE, 'Experiments', vscode.ViewColumn.Active, { ...webviewOptions(ctx.extensionUri), retainContextWhenHidden: false });
    return new ExperimentsPanel(ctx, panel);
  }

  static revive(ctx: Ctx, panel: vscode.WebviewPanel): ExperimentsPanel {
    ExperimentsPanel.current?.dispose();
    return new ExperimentsPanel(ctx, panel);
  }

  private constructor(
    private readonly ctx: Ctx,
    readonly panel: vscode.WebviewPanel,
  ) {
    super();
    ExperimentsPanel.current = this;
    panel.webview.options = webviewOptions(ctx.extensionUri);
    panel.webview.html = webviewHtml(panel.webview, ctx.extensionUri, 'experiments', 'Experiments');
    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(panel.webview.onDidReceiveMessage((m: unknown) => void this.onMessage(m as WebviewToHost)));
    this._register(ctx.runs.onDidChangeRuns(() => this.sendSoon()));
    this._register({ dispose: () => this.timer && clearTimeout(this.timer) });
  }

  override dispose(): void {
    if (ExperimentsPanel.current === this) ExperimentsPanel.current = undefined;
    this.panel.dispose();
    super.dispose();
  }

  private sendSoon(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.send();
    }, 500);
  }

  send(): void {
    const message: HostToWebview = { type: 'table', table: buildTable(this.ctx.runs.list()) };
    void this.panel.webview.postMessage(message);
  }

  private async onMessage(m: WebviewToHost): Promise<void> {
    if (typeof m !== 'object' || m === null) return;
    if (m.type === 'ready') return this.send();
    if (m.type === 'compareRuns' && Array.isArray(m.runIds)) {
      const ids = m.runIds.filter((id): id is string => typeof id === 'string');
      if (ids.length === 0) return;
      await vscode.commands.executeCommand(m.view === 'energy' ? 'spikeStudio.openEnergy' : ids.length > 1 ? 'spikeStudio.compareRuns' : 'spikeStudio.openDashboard', ids.length > 1 ? ids : ids[0]);
      return;
    }
    if (m.type === 'export' && m.format === 'csv' && typeof m.data === 'string') {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const target = await vscode.window.showSaveDialog({
        title: 'Export the experiments table as CSV',
        saveLabel: 'Export',
        ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, 'experiments.csv') } : {}),
        filters: { CSV: ['csv'] },
      });
      if (!target) return;
      await vscode.workspace.fs.writeFile(target, Buffer.from(m.data, 'utf8'));
      this.ctx.log.info(`experiments: exported CSV to ${target.toString(true)}`);
      void vscode.window.showInformationMessage(`Spike Studio: exported ${vscode.workspace.asRelativePath(target)}`);
    }
  }
}

export function registerExperimentsSerializer(ctx: Ctx): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(EXPERIMENTS_VIEW_TYPE, {
    deserializeWebviewPanel: async (panel) => {
      ExperimentsPanel.revive(ctx, panel);
    },
  });
}
