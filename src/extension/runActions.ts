// Run housekeeping commands: Delete Run (confirmation, never a running run, only inside the runs folder).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { canDelete, deleteRun, runsDirOf, type RunInfo } from '../core/runs';
import type { Ctx } from './ctx';

function runIdArg(arg: unknown): string | undefined {
  if (typeof arg === 'string' && arg) return arg;
  if (typeof arg === 'object' && arg !== null && typeof (arg as { id?: unknown }).id === 'string') return (arg as { id: string }).id;
  return undefined;
}

/** Spike Studio: Delete Run — asks first (modal), refuses a running run. */
export async function deleteRunCommand(ctx: Ctx, arg?: unknown): Promise<void> {
  const runs = ctx.runs.list();
  const id = runIdArg(arg);
  let run: RunInfo | undefined;
  if (id) {
    run = runs.find((r) => r.id === id);
  } else {
    run = (
      await vscode.window.showQuickPick(
        runs.map((r) => ({ label: r.name, description: `${r.status} · ${r.id}`, run: r })),
        { title: 'Spike Studio: Delete Run', placeHolder: 'Which run?' },
      )
    )?.run;
    if (!run) return;
  }
  if (!run) {
    void vscode.window.showErrorMessage(`Spike Studio: no run ${id} in this workspace.`);
    return;
  }
  const allowed = canDelete(ctx.runs.activeRun(run.id)?.status === 'running' ? { ...run, status: 'running' } : run);
  if (!allowed.ok) {
    void vscode.window.showWarningMessage(`Spike Studio: ${allowed.reason}`);
    return;
  }
  const remove = 'Delete';
  const choice = await vscode.window.showWarningMessage(
    `Delete run "${run.name}"?`,
    { modal: true, detail: `${run.dir}\n\nIts events, checkpoints and logs are deleted. This cannot be undone.` },
    remove,
  );
  if (choice !== remove) return;
  // only inside a runs folder of this workspace (default .spike-studio/runs, or spikeStudio.runsDirectory)
  const runsDir = ctx.runs
    .runsDirs()
    .map(({ root, runsDir: configured }) => configured ?? runsDirOf(root))
    .find((dir) => path.resolve(dir) === path.dirname(path.resolve(run.dir)));
  if (!runsDir) {
    void vscode.window.showErrorMessage(`Spike Studio: ${run.dir} is not in a runs folder of this workspace; not deleted.`);
    return;
  }
  deleteRun(runsDir, run.dir);
  ctx.log.info(`run ${run.id}: deleted ${run.dir}`);
  ctx.runs.refresh();
}
