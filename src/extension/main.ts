// Entry point: activate builds the Ctx (the composition root) and wires providers, views and commands.
import * as vscode from 'vscode';
import { registerAuthoring } from './authoring';
import { SlurmWatcher, stopSlurmRun } from './cluster';
import { registerCommands } from './commands';
import { registerExperimentsSerializer } from './views/experiments';
import { Ctx } from './ctx';
import { CustomModels } from './customModel';
import { TrainCodeLensProvider } from './diagnostics';
import { registerDashboardSerializer } from './views/dashboard';
import { registerPanelSerializers, VizPanel, type PanelKind, type PanelPosted } from './views/panels';
import { PythonStatus } from './setupPython';
import { registerWalkthroughKeys } from './walkthrough';
import { RunsTreeProvider, RUNS_VIEW_ID } from './views/runsTree';
import { SidePanelProvider } from './views/sidePanel';

let ctx: Ctx | undefined;

/** What other extensions and the integration tests can reach. */
export interface SpikeStudioApi {
  readonly ctx: Ctx;
  /** the side panel's provider (tests read what it posted) */
  readonly sidePanel: SidePanelProvider;
  /** the Runs view's provider (tests read its items) */
  readonly runsTree: RunsTreeProvider;
  /** your own models: background describes, their diagnostics (tests read them) */
  readonly customModels: CustomModels;
  /** follows Slurm jobs (tests call tick() to look at the queue now instead of at the next poll) */
  readonly slurmWatcher: SlurmWatcher;
  /** what each kind of visualisation panel was posted, in brief (tests) */
  readonly panelsPosted: (kind: PanelKind) => readonly PanelPosted[];
}

export function activate(extension: vscode.ExtensionContext): SpikeStudioApi | undefined {
  try {
    ctx = new Ctx(extension);
    extension.subscriptions.push(ctx);
    const c = ctx;
    c.log.info(`Spike Studio ${String(extension.extension.packageJSON.version)} activated (VS Code ${vscode.version}, trusted: ${vscode.workspace.isTrusted})`);

    registerCommands(c);
    c.runs.stopSlurm = (run) => stopSlurmRun(c, run);
    const slurmWatcher = c.own(new SlurmWatcher(c));
    c.own(registerExperimentsSerializer(c));
    registerAuthoring(c);
    registerWalkthroughKeys(c);
    // the status-bar item "set up Python" while the interpreter Train would use cannot train (doctor, in the background)
    const pythonStatus = c.own(new PythonStatus(c));
    void pythonStatus.check().catch((error: unknown) => c.log.warn(`startup Python check failed: ${String(error)}`));
    const customModels = c.own(new CustomModels(c)); // before the panels: they ask it for custom graphs
    c.own(registerDashboardSerializer(c));
    for (const d of registerPanelSerializers(c)) c.own(d);

    const tree = c.own(new RunsTreeProvider(c.runs));
    c.own(vscode.window.createTreeView(RUNS_VIEW_ID, { treeDataProvider: tree, showCollapseAll: false, canSelectMany: true }));
    const side = SidePanelProvider.register(c);
    c.own(side.disposable);

    const lens = c.own(
      new TrainCodeLensProvider(
        (file) => c.runs.activeRuns().find((r) => r.source === file)?.id,
        c.runs.onDidChangeRuns,
      ),
    );
    c.own(TrainCodeLensProvider.register(lens));

    // runs written by anyone (this window, the CLI, another window)
    let watching: vscode.Disposable[] = [];
    c.own({ dispose: () => watching.forEach((d) => d.dispose()) });
    const watchers = () => {
      watching.forEach((d) => d.dispose());
      watching = [];
      for (const { root, runsDir } of c.runs.runsDirs()) {
        const base = runsDir ?? root;
        const pattern = runsDir ? '*/events.jsonl' : '.spike-studio/runs/*/events.jsonl';
        const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(base), pattern));
        watching.push(
          watcher,
          watcher.onDidCreate(() => tree.refreshSoon(300)),
          watcher.onDidDelete(() => tree.refreshSoon(300)),
          watcher.onDidChange(() => tree.refreshSoon(2000)),
        );
      }
    };
    watchers();
    c.own(vscode.workspace.onDidChangeWorkspaceFolders(() => {
      watchers();
      c.runs.refresh();
    }));
    c.own(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('spikeStudio.runsDirectory')) c.runs.refresh();
      }),
    );
    c.own(vscode.workspace.onDidGrantWorkspaceTrust(() => c.log.info('workspace trusted: training enabled')));
    // runs that outlived the last window (a reload): still running → follow their events.jsonl
    try {
      c.runs.reattach();
    } catch (error) {
      c.log.warn(`could not re-attach to running runs: ${error instanceof Error ? error.message : String(error)}`);
    }
    return { ctx: c, sidePanel: side.provider, runsTree: tree, customModels, slurmWatcher, panelsPosted: (kind) => VizPanel.posted.get(kind) ?? [] };
  } catch (error) {
    // VS Code does not show a notification when an extension fails to activate
    const message = error instanceof Error ? error.message : String(error);
    void vscode.window.showErrorMessage(`Spike Studio failed to start: ${message}`);
    return undefined;
  }
}

export function deactivate(): void {
  ctx?.dispose();
  ctx = undefined;
}
