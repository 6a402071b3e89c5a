// The Spike Studio side panel: a webview view (spikeStudio.sidePanel, below the Runs tree) that follows the active
// *.spike.yaml editor. It shows the config's architecture graph; when the config has a run (the newest run whose
// config.resolved.json `source` is that file) it adds tabs for its curves, firing and attention, live while it trains.
// The webview (webview/sidepanel) embeds the graph, dashboard, firing and attention bundles, so the host speaks the
// same protocol as the panels (views/panels.ts): ready handshake → {type:'graph'} + {type:'init'}, then
// {type:'events'} / {type:'runStatus'} at most 10 times a second, held while the view is hidden. A webview view
// also drops messages while hidden and is re-created when shown again: it says ready again and gets a snapshot.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { onCustomModelDescribed } from '../customModel';
import type { HostToWebview } from '../../core/protocol';
import type { Ctx } from '../ctx';
import { Disposable } from '../dispose';
import { webviewHtml, webviewOptions } from './html';
import { activeConfigPath, latestRunOf } from './panels';
import { isWebviewMessage, RunFeed } from './runFeed';

export const SIDE_PANEL_VIEW_ID = 'spikeStudio.sidePanel';

/** What the provider posted (tests): the message type, and for graph/init messages the config or run they carry. */
export interface PostedMessage {
  type: string;
  source?: string | null;
  runId?: string | null;
  layers?: number;
}

export class SidePanelProvider extends Disposable implements vscode.WebviewViewProvider {
  private view: vscode.WebviewView | undefined;
  private source: string | undefined;
  private readonly feed: RunFeed;
  /** whether VS Code has resolved the view and whether it is visible (a test hook, for failure messages) */
  get viewState(): { resolved: boolean; visible: boolean; ready: boolean } {
    return { resolved: this.view !== undefined, visible: this.view?.visible === true, ready: this.feed.ready };
  }

  /** the last 100 messages posted to the webview, oldest first (a test hook) */
  readonly posted: PostedMessage[] = [];

  constructor(private readonly ctx: Ctx) {
    super();
    this.feed = this._register(
      new RunFeed(ctx, {
        label: 'side panel',
        snapshotGraph: true,
        source: () => this.source,
        visible: () => this.view?.visible === true,
        post: (message) => this.post(message),
      }),
    );
    this.follow(activeConfigPath());
    this._register(vscode.window.onDidChangeActiveTextEditor(() => this.follow(activeConfigPath())));
    this._register(
      ctx.runs.onDidChangeRuns(() => {
        const latest = this.source ? latestRunOf(ctx, this.source) : undefined;
        if (latest !== this.runId) this.setRun(latest, true);
      }),
    );
    const touched = (doc: vscode.TextDocument) => {
      if (this.source && doc.uri.scheme === 'file' && path.resolve(doc.uri.fsPath) === path.resolve(this.source)) this.feed.scheduleGraph();
    };
    this._register(vscode.workspace.onDidChangeTextDocument((e) => touched(e.document)));
    this._register(vscode.workspace.onDidSaveTextDocument(touched));
    this._register(onCustomModelDescribed((f) => this.source && path.resolve(f) === path.resolve(this.source) && this.feed.scheduleGraph()));
    this._register(vscode.window.onDidChangeActiveColorTheme(() => this.post({ type: 'theme' })));
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

  private get runId(): string | undefined {
    return this.feed.runId;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.feed.ready = false;
    view.webview.options = webviewOptions(this.ctx.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.ctx.extensionUri, 'sidepanel', 'Spike Studio');
    this.updateDescription();
    const subs = [
      view.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)),
      view.onDidChangeVisibility(() => {
        // a re-created webview says ready; a retained one does not: the feed sends the snapshot anyway after a while
        if (view.visible) this.feed.armReadyFallback();
        else this.feed.ready = false; // hidden: messages would be dropped; hold them until it says ready again
      }),
    ];
    // the embedded panel says ready once loaded; should that message be lost or late, a visible view still gets
    // its snapshot (the same fallback as when a view becomes visible again)
    if (view.visible) this.feed.armReadyFallback();
    view.onDidDispose(() => {
      subs.forEach((d) => d.dispose());
      if (this.view === view) this.view = undefined;
      this.feed.ready = false;
    });
  }

  /** Follows a newly active config; a non-config editor keeps the last one shown. */
  private follow(file: string | undefined): void {
    if (!file || (this.source && path.resolve(file) === path.resolve(this.source))) return;
    this.source = file;
    this.updateDescription();
    this.setRun(latestRunOf(this.ctx, file), false);
    if (this.feed.ready) {
      this.feed.sendGraph();
      this.feed.sendInit();
    }
  }

  private setRun(runId: string | undefined, send: boolean): void {
    this.feed.setRun(runId);
    if (send && this.feed.ready) this.feed.sendInit();
  }

  private updateDescription(): void {
    if (this.view) this.view.description = this.source ? path.basename(this.source) : undefined;
  }

  private onMessage(m: unknown): void {
    // each embedded panel says ready once it is loaded; every one gets the same snapshot
    if (!isWebviewMessage(m) || this.feed.onMessage(m)) return;
    switch (m.type) {
      case 'stop':
        if (typeof m.runId === 'string' && this.ctx.runs.stop(m.runId)) this.ctx.log.info(`run ${m.runId}: stop requested (side panel)`);
        return;
      default:
        // the embedded dashboard's export buttons: saving is the dashboard panel's job
        if ((m as { type: string }).type === 'export') void vscode.window.showInformationMessage('Spike Studio: export curves from the dashboard (Spike Studio: Open Dashboard).');
        return;
    }
  }

  private post(message: HostToWebview): void {
    const view = this.view;
    if (!view || !this.feed.ready) return; // the snapshot on the next ready covers it
    const record: PostedMessage = { type: message.type };
    if (message.type === 'graph') Object.assign(record, { source: message.source, layers: message.model?.layers.length ?? 0 });
    if (message.type === 'init') record.runId = Object.keys(message.events)[0] ?? null;
    if (message.type === 'events') record.runId = message.runId;
    this.posted.push(record);
    if (this.posted.length > 100) this.posted.splice(0, this.posted.length - 100);
    void view.webview.postMessage(message).then(undefined, (error: unknown) => this.ctx.log.warn(`side panel postMessage failed: ${String(error)}`));
  }
}
