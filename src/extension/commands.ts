// Every command of the extension, in one typed table: id → handler(ctx, ...args).
import * as vscode from 'vscode';
import { importReferenceConfigCommand } from './authoring';
import { newConfigCommand, openExampleCommand, validateConfigCommand } from './configs';
import { openSlurmLog, runSweep, trainOnCluster } from './cluster';
import type { Ctx } from './ctx';
import { inspectOnnxCommand } from './onnx';
import { deleteRunCommand } from './runActions';
import { openWalkthrough, setupPythonCommand } from './setupPython';
import { resumeRun, train } from './train';
import { DashboardPanel } from './views/dashboard';
import { ExperimentsPanel } from './views/experiments';
import { openEnergy, openGraph, openRunPanel } from './views/panels';

export type CommandId =
  | 'spikeStudio.train'
  | 'spikeStudio.stop'
  | 'spikeStudio.openDashboard'
  | 'spikeStudio.compareRuns'
  | 'spikeStudio.refreshRuns'
  | 'spikeStudio.showOutput'
  | 'spikeStudio.resumeRun'
  | 'spikeStudio.deleteRun'
  | 'spikeStudio.importReferenceConfig'
  | 'spikeStudio.openGraph'
  | 'spikeStudio.openFiring'
  | 'spikeStudio.openAttention'
  | 'spikeStudio.openEnergy'
  | 'spikeStudio.inspectOnnx'
  | 'spikeStudio.setupPython'
  | 'spikeStudio.newConfig'
  | 'spikeStudio.validate'
  | 'spikeStudio.openExample'
  | 'spikeStudio.getStarted'
  | 'spikeStudio.trainOnCluster'
  | 'spikeStudio.runSweep'
  | 'spikeStudio.openExperiments'
  | 'spikeStudio.openSlurmLog';

type Handler = (ctx: Ctx, ...args: unknown[]) => unknown;

/** A run id from a command argument: a string, or a Runs-view element ({id}). */
function runIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string' && arg) return arg;
  if (typeof arg === 'object' && arg !== null && typeof (arg as { id?: unknown }).id === 'string') return (arg as { id: string }).id;
  return undefined;
}

async function stop(ctx: Ctx, arg?: unknown): Promise<void> {
  let runId = runIdOf(arg);
  const active = ctx.runs.activeRuns();
  if (!runId) {
    if (active.length === 0) {
      void vscode.window.showInformationMessage('Spike Studio: no training is running.');
      return;
    }
    runId =
      active.length === 1
        ? active[0].id
        : (await vscode.window.showQuickPick(active.map((r) => ({ label: r.name, description: r.id, id: r.id })), { title: 'Stop which run?' }))?.id;
    if (!runId) return;
  }
  if (ctx.runs.stop(runId)) {
    ctx.log.info(`run ${runId}: stop requested`);
  } else {
    void vscode.window.showInformationMessage(`Spike Studio: run ${runId} is not training in this window.`);
  }
}

/**
 * Opens the dashboard on several runs. From the Runs view (canSelectMany) VS Code passes (clicked item, selected
 * items); an array of ids works too; with fewer than two, a multi-select quick pick asks which.
 */
async function compareRuns(ctx: Ctx, arg?: unknown, selected?: unknown): Promise<void> {
  const fromArgs = (Array.isArray(selected) ? selected : Array.isArray(arg) ? arg : [arg]).map(runIdOf).filter((id): id is string => id !== undefined);
  let ids = [...new Set(fromArgs)];
  if (ids.length < 2) {
    const all = ctx.runs.list();
    if (all.length < 2) {
      void vscode.window.showInformationMessage('Spike Studio: comparing needs at least two runs.');
      return;
    }
    const picked = await vscode.window.showQuickPick(
      all.map((r) => ({ label: r.name, description: r.status, detail: r.id, id: r.id, picked: ids.includes(r.id) })),
      { title: 'Compare which runs?', canPickMany: true, placeHolder: 'Select two or more runs' },
    );
    if (!picked || picked.length === 0) return;
    ids = picked.map((p) => p.id);
  }
  DashboardPanel.createOrShow(ctx, ids);
}

export const commands: Record<CommandId, Handler> = {
  'spikeStudio.openGraph': (ctx, arg) => openGraph(ctx, arg),
  'spikeStudio.openFiring': (ctx, arg) => openRunPanel(ctx, 'firing', arg),
  'spikeStudio.openAttention': (ctx, arg) => openRunPanel(ctx, 'attention', arg),
  'spikeStudio.openEnergy': (ctx, arg, selected) => openEnergy(ctx, arg, selected),
  'spikeStudio.inspectOnnx': (ctx, uri, input) => inspectOnnxCommand(ctx, uri, input),
  'spikeStudio.train': (ctx, arg) => train(ctx, arg),
  'spikeStudio.stop': (ctx, arg) => stop(ctx, arg),
  'spikeStudio.resumeRun': (ctx, arg) => resumeRun(ctx, arg),
  'spikeStudio.deleteRun': (ctx, arg) => deleteRunCommand(ctx, arg),
  'spikeStudio.openDashboard': (ctx, arg) => {
    DashboardPanel.createOrShow(ctx, runIdOf(arg));
  },
  'spikeStudio.compareRuns': (ctx, arg, selected) => compareRuns(ctx, arg, selected),
  'spikeStudio.refreshRuns': (ctx) => ctx.runs.refresh(),
  'spikeStudio.showOutput': (ctx) => ctx.log.show(),
  'spikeStudio.trainOnCluster': (ctx, arg, options) => trainOnCluster(ctx, arg, options as Parameters<typeof trainOnCluster>[2]),
  'spikeStudio.runSweep': (ctx, arg, options) => runSweep(ctx, arg, options as Parameters<typeof runSweep>[2]),
  'spikeStudio.openExperiments': (ctx) => void ExperimentsPanel.createOrShow(ctx),
  'spikeStudio.openSlurmLog': (ctx, arg, which) => openSlurmLog(((id) => (id ? ctx.runs.get(id) : undefined))(runIdOf(arg)), which as 'stdout' | 'stderr' | undefined),
  'spikeStudio.importReferenceConfig': (ctx, uri, arch, options) => importReferenceConfigCommand(ctx, uri, arch, (options ?? {}) as { overwrite?: boolean; noOpen?: boolean }),
  'spikeStudio.setupPython': (ctx, arg) => setupPythonCommand(ctx, arg),
  'spikeStudio.newConfig': (ctx, arg) => newConfigCommand(ctx, arg),
  'spikeStudio.validate': (ctx, arg) => validateConfigCommand(ctx, arg),
  'spikeStudio.openExample': (ctx) => openExampleCommand(ctx),
  'spikeStudio.getStarted': (ctx) => openWalkthrough(ctx),
};

export function registerCommands(ctx: Ctx): void {
  for (const [id, handler] of Object.entries(commands) as [CommandId, Handler][]) {
    ctx.own(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await handler(ctx, ...args);
        } catch (error) {
          ctx.log.error(`${id} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
          const open = 'Open Output';
          const choice = await vscode.window.showErrorMessage(`Spike Studio: ${id.replace('spikeStudio.', '')} failed: ${error instanceof Error ? error.message : String(error)}`, open);
          if (choice === open) ctx.log.show(true);
          return undefined;
        }
      }),
    );
  }
}
