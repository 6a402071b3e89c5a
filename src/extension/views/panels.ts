// The visualisation panels (graph, firing, attention, energy): one generic webview panel class, one instance per
// panel kind. Same lifecycle as the dashboard (views/dashboard.ts):
//  * strict CSP with a nonce (views/html.ts; `worker-src blob:` lets the graph lay out in a blob-URL worker);
//  * ready handshake: the webview posts {type:'ready'}; the host answers with {type:'graph'} (graph panel, when
//    it shows a config) and {type:'init'} with the attached run's events, then {type:'events'} batches at most
//    10 times a second, held while the panel is hidden (VS Code drops messages to hidden webviews);
//  * the webview keeps {runId, source, …} with setState; registerWebviewPanelSerializer per viewType reopens the
//    panel after a reload with that state.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { measureGraph, onCustomModelDescribed } from '../customModel';
import type { HostToWebview, RuntimeEvent } from '../../core/protocol';
import { pickConfig } from '../configs';
import { isSpikeConfigPath } from '../config';
import type { Ctx } from '../ctx';
import { Disposable } from '../dispose';
import { webviewHtml, webviewOptions } from './html';
import { isWebviewMessage, RunFeed } from './runFeed';

export type PanelKind = 'graph' | 'firing' | 'attention' | 'energy';

interface PanelSpec {
  viewType: string;
  /** the bundle dist/webview/<bundle>.js */
  bundle: string;
  title: string;
}

export const PANELS: Readonly<Record<PanelKind, PanelSpec>> = {
  graph: { viewType: 'spikeStudio.graph', bundle: 'graph', title: 'Architecture' },
  firing: { viewType: 'spikeStudio.firing', bundle: 'firing', title: 'Firing Rates' },
  attention: { viewType: 'spikeStudio.attention', bundle: 'attention', title: 'Attention Maps' },
  energy: { viewType: 'spikeStudio.energy', bundle: 'energy', title: 'Energy' },
};

export interface PanelTarget {
  runId?: string;
  /** graph panel: the *.spike.yaml file */
  source?: string;
  /** energy panel: the runs compared (two or more, runId among them); [] = none; undefined = unchanged */
  compared?: string[];
}

interface SavedState {
  runId?: unknown;
  source?: unknown;
  /** the energy webview keeps the compared run ids in its ui state */
  ui?: { compared?: unknown };
}

/** The energy panel's compared runs (with the primary one): each run's energy and eval events. */
function comparedEvents(ctx: Ctx, ids: readonly string[]): { runId: string; events: RuntimeEvent[] }[] {
  const present = ids.filter((id) => ctx.runs.get(id));
  if (present.length < 2) return [];
  return present.map((runId) => ({ runId, events: ctx.runs.eventsOf(runId).filter((e) => e.type === 'energy' || e.type === 'eval') }));
}

/** What a panel was sent, in brief (a test hook): graph messages, and the firing and attention events of run messages. */
export interface PanelPosted {
  type: string;
  source?: string | null;
  layers?: number;
  edges?: number;
  graph?: string;
  /** the layers of the newest firing event the message carried */
  firing?: { name: string; rate: number }[];
  /** attention events the message carried */
  attention?: number;
}

function briefOf(message: HostToWebview): PanelPosted {
  const brief: PanelPosted = { type: message.type };
  if (message.type === 'graph') {
    return { ...brief, source: message.source, layers: message.model?.layers.length ?? 0, edges: message.model?.edges?.length ?? 0, graph: message.model?.graph };
  }
  const events = message.type === 'init' ? Object.values(message.events).flat() : message.type === 'events' ? message.events : [];
  const firing = events.filter((e) => e.type === 'firing').pop();
  if (firing) brief.firing = firing.layers.map((l) => ({ name: l.name, rate: l.rate }));
  const attention = events.filter((e) => e.type === 'attention').length;
  if (attention) brief.attention = attention;
  return brief;
}

/** The newest run trained from this config file, if any. */
export function latestRunOf(ctx: Ctx, source: string): string | undefined {
  const file = path.resolve(source);
  return ctx.runs.list().find((r) => r.source !== null && path.resolve(r.source) === file)?.id;
}

/** The active editor's *.spike.yaml, if any. */
export function activeConfigPath(): string | undefined {
  const doc = vscode.window.activeTextEditor?.document;
  return doc && doc.uri.scheme === 'file' && isSpikeConfigPath(doc.uri.fsPath) ? doc.uri.fsPath : undefined;
}

export class VizPanel extends Disposable {
  private static readonly open = new Map<PanelKind, VizPanel>();
  /** the last 50 messages posted to each kind of panel, oldest first (a test hook) */
  static readonly posted = new Map<PanelKind, PanelPosted[]>();

  private source: string | undefined;
  /** energy panel: the runs compared (empty: one run) */
  private compared: string[] = [];
  private comparedTimer: NodeJS.Timeout | undefined;
  private readonly feed: RunFeed;

  static createOrShow(ctx: Ctx, kind: PanelKind, target: PanelTarget): VizPanel {
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active;
    const existing = VizPanel.open.get(kind);
    if (existing) {
      existing.panel.reveal(existing.panel.viewColumn ?? column, true);
      existing.retarget(target);
      return existing;
    }
    const spec = PANELS[kind];
    const panel = vscode.window.createWebviewPanel(spec.viewType, spec.title, { viewColumn: column, preserveFocus: true }, {
      ...webviewOptions(ctx.extensionUri),
      enableFindWidget: false,
      retainContextWhenHidden: false,
    });
    const p = new VizPanel(ctx, kind, panel, target);
    VizPanel.open.set(kind, p);
    return p;
  }

  static revive(ctx: Ctx, kind: PanelKind, panel: vscode.WebviewPanel, state: unknown): VizPanel {
    const saved = (typeof state === 'object' && state !== null ? state : {}) as SavedState;
    const source = typeof saved.source === 'string' && fs.existsSync(saved.source) ? saved.source : undefined;
    let runId = typeof saved.runId === 'string' && ctx.runs.get(saved.runId) ? saved.runId : undefined;
    if (!runId && kind !== 'graph') runId = ctx.runs.defaultRunId();
    const savedCompared = kind === 'energy' && Array.isArray(saved.ui?.compared) ? saved.ui.compared : [];
    const compared = savedCompared.filter((id): id is string => typeof id === 'string' && ctx.runs.get(id) !== undefined);
    VizPanel.open.get(kind)?.dispose();
    const p = new VizPanel(ctx, kind, panel, { runId, source, compared: compared.length >= 2 ? compared : [] });
    VizPanel.open.set(kind, p);
    return p;
  }

  /** The open panel of a kind (tests, commands). */
  static instance(kind: PanelKind): VizPanel | undefined {
    return VizPanel.open.get(kind);
  }

  private constructor(
    private readonly ctx: Ctx,
    readonly kind: PanelKind,
    readonly panel: vscode.WebviewPanel,
    target: PanelTarget,
  ) {
    super();
    this._register(panel);
    panel.webview.options = webviewOptions(ctx.extensionUri);
    panel.iconPath = vscode.Uri.joinPath(ctx.extensionUri, 'media', 'icon.svg');
    this.source = target.source;
    if (kind === 'energy') this.compared = target.compared ?? [];
    this.feed = this._register(
      new RunFeed(ctx, {
        label: `${kind} panel`,
        snapshotGraph: kind === 'graph',
        source: () => this.source,
        visible: () => panel.visible,
        post: (message) => this.post(message),
        compared: () => comparedEvents(ctx, this.compared),
      }),
    );
    this.feed.followPanel(panel);
    this.setRun(target.runId);
    panel.webview.html = webviewHtml(panel.webview, ctx.extensionUri, PANELS[kind].bundle, `Spike Studio ${PANELS[kind].title}`);

    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)));
    this._register(
      ctx.runs.onDidChangeStatus((run) => {
        if (run.id === this.runId) this.updateTitle(); // the feed posts the status
      }),
    );
    if (kind === 'graph') {
      // a new run of the shown config attaches itself; edits to the config redraw the graph
      this._register(
        ctx.runs.onDidChangeRuns(() => {
          if (!this.source) return;
          const latest = latestRunOf(ctx, this.source);
          if (latest && latest !== this.runId) {
            this.setRun(latest);
            if (this.feed.ready) this.feed.sendInit();
          }
        }),
      );
      const touched = (doc: vscode.TextDocument) => {
        if (this.source && doc.uri.scheme === 'file' && path.resolve(doc.uri.fsPath) === path.resolve(this.source)) this.feed.scheduleGraph();
      };
      this._register(vscode.workspace.onDidChangeTextDocument((e) => touched(e.document)));
      this._register(vscode.workspace.onDidSaveTextDocument(touched));
      this._register(onCustomModelDescribed((f) => this.source && path.resolve(f) === path.resolve(this.source) && this.feed.scheduleGraph()));
    }
    if (kind === 'energy') {
      // a new evaluation of a compared (non-primary) run: a fresh init, at most every 500 ms (the feed follows the primary run)
      this._register(
        ctx.runs.onDidAppend(({ runId, events }) => {
          if (runId === this.runId || !this.compared.includes(runId) || !events.some((e) => e.type === 'energy' || e.type === 'eval')) return;
          this.comparedTimer ??= setTimeout(() => {
            this.comparedTimer = undefined;
            if (this.feed.ready && panel.visible) this.feed.sendInit();
          }, 500);
        }),
      );
    }
    this._register(vscode.window.onDidChangeActiveColorTheme(() => this.post({ type: 'theme' })));
    this._register({
      dispose: () => {
        if (this.comparedTimer) clearTimeout(this.comparedTimer);
        if (VizPanel.open.get(this.kind) === this) VizPanel.open.delete(this.kind);
      },
    });
  }

  get shownRunId(): string | undefined {
    return this.runId;
  }

  private get runId(): string | undefined {
    return this.feed.runId;
  }

  get shownSource(): string | undefined {
    return this.source;
  }

  /** energy panel: the compared run ids (empty: one run) */
  get comparedRunIds(): readonly string[] {
    return this.compared;
  }

  private retarget(target: PanelTarget): void {
    const sourceChanged = target.source !== undefined && target.source !== this.source;
    if (target.source !== undefined) this.source = target.source;
    const runChanged = target.runId !== this.runId && (target.runId !== undefined || sourceChanged);
    const comparedChanged = this.kind === 'energy' && target.compared !== undefined && target.compared.join('\n') !== this.compared.join('\n');
    if (comparedChanged) this.compared = target.compared ?? [];
    if (runChanged) this.setRun(target.runId);
    else this.updateTitle();
    if (!this.feed.ready) return;
    if (sourceChanged) this.feed.sendGraph();
    if (runChanged || sourceChanged || comparedChanged) this.feed.sendInit();
  }

  private setRun(runId: string | undefined): void {
    this.feed.setRun(runId);
    this.updateTitle();
  }

  private updateTitle(): void {
    const base = PANELS[this.kind].title;
    if (this.kind === 'graph' && this.source) {
      this.panel.title = `${base}: ${path.basename(this.source)}`;
      return;
    }
    const summary = this.runId ? this.ctx.runs.summary(this.runId) : undefined;
    const others = this.compared.length >= 2 ? this.compared.length - 1 : 0;
    this.panel.title = summary ? `${base}: ${summary.name}${others ? ` (+${others})` : ''}` : base;
  }

  private onMessage(m: unknown): void {
    if (!isWebviewMessage(m) || this.feed.onMessage(m)) return;
    if (m.type === 'measureGraph' && this.kind === 'graph' && this.source) measureGraph(this.source);
  }

  private post(message: HostToWebview): void {
    const log = VizPanel.posted.get(this.kind) ?? [];
    log.push(briefOf(message));
    VizPanel.posted.set(this.kind, log.slice(-50));
    void this.panel.webview.postMessage(message).then(undefined, (error: unknown) => this.ctx.log.warn(`${this.kind} postMessage failed: ${String(error)}`));
  }
}

/** One serializer per panel kind. */
export function registerPanelSerializers(ctx: Ctx): vscode.Disposable[] {
  return (Object.keys(PANELS) as PanelKind[]).map((kind) =>
    vscode.window.registerWebviewPanelSerializer(PANELS[kind].viewType, {
      deserializeWebviewPanel: async (panel, state) => {
        VizPanel.revive(ctx, kind, panel, state);
      },
    }),
  );
}

/** A run id from a command argument: a string, or a Runs-view element ({id}). */
function runIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string' && arg) return arg;
  if (typeof arg === 'object' && arg !== null && typeof (arg as { id?: unknown }).id === 'string') return (arg as { id: string }).id;
  return undefined;
}

/**
 * spikeStudio.openGraph: the given *.spike.yaml, else the one pickConfig finds (active editor, the workspace's only
 * config, a pick); a run argument shows its config, coloured by its firing.
 */
export async function openGraph(ctx: Ctx, arg?: unknown): Promise<void> {
  let source: string | undefined;
  let runId: string | undefined;
  if (arg instanceof vscode.Uri) source = arg.fsPath;
  else if ((runId = runIdOf(arg)) !== undefined) source = ctx.runs.get(runId)?.source ?? undefined;
  source ??= (await pickConfig(undefined, 'Spike Studio: Open Architecture Graph'))?.fsPath;
  if (!source) return;
  runId ??= latestRunOf(ctx, source);
  VizPanel.createOrShow(ctx, 'graph', { source, runId });
}

/** spikeStudio.openFiring / openAttention / openEnergy: a run id argument, else the latest run of the active config, else the newest run. */
export function openRunPanel(ctx: Ctx, kind: Exclude<PanelKind, 'graph'>, arg?: unknown): void {
  let runId = runIdOf(arg);
  if (!runId) {
    const active = activeConfigPath();
    runId = (active && latestRunOf(ctx, active)) || ctx.runs.defaultRunId();
  }
  VizPanel.createOrShow(ctx, kind, { runId, compared: [] }); // one run: the energy panel compares none
}

/**
 * spikeStudio.openEnergy: one run as openRunPanel, or several compared. From the Runs view with several selected, VS
 * Code passes (clicked item, selected items): the clicked run's bars are shown first, every selected run is a point
 * of the energy–accuracy chart. An array of ids works too. Invoked with no run while two or more runs exist, a
 * multi-select quick pick asks which (the default run pre-picked).
 */
export async function openEnergy(ctx: Ctx, arg?: unknown, selected?: unknown): Promise<void> {
  const list = Array.isArray(selected) ? selected : Array.isArray(arg) ? arg : arg === undefined ? [] : [arg];
  let ids = [...new Set(list.map(runIdOf).filter((id): id is string => id !== undefined))];
  const clicked = Array.isArray(arg) ? undefined : runIdOf(arg);
  if (ids.length === 0 && arg === undefined && ctx.runs.list().length >= 2) {
    const active = activeConfigPath();
    const fallback = (active && latestRunOf(ctx, active)) || ctx.runs.defaultRunId();
    const picked = await vscode.window.showQuickPick(
      ctx.runs.list().map((r) => ({ label: r.name, description: r.status, detail: r.id, id: r.id, picked: r.id === fallback })),
      { title: 'Energy of which runs?', canPickMany: true, placeHolder: 'Select one run, or several to compare their energy and accuracy' },
    );
    if (!picked || picked.length === 0) return;
    ids = picked.map((p) => p.id);
  }
  if (ids.length < 2) {
    openRunPanel(ctx, 'energy', ids[0] ?? arg);
    return;
  }
  const runId = clicked && ids.includes(clicked) ? clicked : ids[0];
  VizPanel.createOrShow(ctx, 'energy', { runId, compared: ids });
}
