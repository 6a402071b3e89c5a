// Train on Cluster…, Run Sweep…, and the watcher that follows Slurm jobs (squeue / scontrol → RUN_DIR/slurm/job.json).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { type ClusterProfile, checkProfile, isActiveState, jobLogPath, noEventsProblem, NO_SBATCH_HINT, onPath, refreshJob, SlurmError, stopJob } from '../core/cluster/slurm';
import { prepareClusterRun, runSweepLocal, submitPrepared, submitSweepArray, type ClusterTarget } from '../core/cluster/submit';
import { describeParams, isSweepFile, loadSweep } from '../core/cluster/sweep';
import { loadConfig } from '../core/config';
import type { RunInfo } from '../core/runs';
import { findPython } from '../core/runtime';
import { config, SECTION } from './config';
import type { Ctx } from './ctx';
import { toVscodeDiagnostic } from './diagnostics';
import { pythonExtensionInterpreter } from './python';

/** Seconds a submitted job may run without writing its first event before the Runs view says why. */
const FIRST_EVENT_TIMEOUT_MS = 5 * 60_000;
const POLL_MS = 5_000;

function profiles(scope?: vscode.Uri): Record<string, unknown> {
  return vscode.workspace.getConfiguration(SECTION, scope).get<Record<string, unknown>>('clusters', {}) ?? {};
}

async function pickProfile(scope?: vscode.Uri): Promise<{ name: string; profile: ClusterProfile } | undefined> {
  const all = profiles(scope);
  const names = Object.keys(all);
  if (names.length === 0) {
    const open = 'Open Settings';
    const choice = await vscode.window.showErrorMessage(
      'Spike Studio: no cluster profile. Add one to spikeStudio.clusters, e.g. {"gpu": {"partition": "gpu", "nodes": 1, "gpusPerNode": 4, "time": "1-00:00:00"}}.',
      open,
    );
    if (choice === open) await vscode.commands.executeCommand('workbench.action.openSettingsJson');
    return undefined;
  }
  const name = names.length === 1 ? names[0] : (await vscode.window.showQuickPick(names.map((n) => ({ label: n, description: summary(all[n] as ClusterProfile) })), { title: 'Train on which cluster profile?' }))?.label;
  if (!name) return undefined;
  const problems = checkProfile(name, all[name]);
  if (problems.length) {
    void vscode.window.showErrorMessage(`Spike Studio: ${problems.join('; ')}`);
    return undefined;
  }
  return { name, profile: all[name] as ClusterProfile };
}

function summary(p: ClusterProfile): string {
  return [p.partition, `${p.nodes ?? 1} node(s)`, p.gpusPerNode ? `${p.gpusPerNode} GPU/node` : 'CPU', p.time].filter(Boolean).join(' · ');
}

/** sbatch on PATH, else the Remote-SSH hint (returns false). */
async function checkSbatch(): Promise<boolean> {
  if (onPath('sbatch')) return true;
  void vscode.window.showErrorMessage(`Spike Studio: sbatch was not found on PATH — this machine is not a Slurm login node. ${NO_SBATCH_HINT}`);
  return false;
}

async function pythonFor(ctx: Ctx, uri: vscode.Uri, root: string): Promise<string> {
  return findPython({ configured: config.pythonPath(uri), pythonExtension: await pythonExtensionInterpreter(uri, ctx.log), cwd: root }).path;
}

function rootOf(uri: vscode.Uri): string {
  return vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath ?? path.dirname(uri.fsPath);
}

async function configUri(arg: unknown, sweep: boolean): Promise<vscode.Uri | undefined> {
  if (arg instanceof vscode.Uri) return arg;
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active && /\.(spike|sweep)\.ya?ml$/i.test(active.path)) return active;
  const files = await vscode.workspace.findFiles(sweep ? '**/*.{spike,sweep}.{yaml,yml}' : '**/*.spike.{yaml,yml}', '**/{node_modules,.spike-studio}/**', 50);
  if (files.length === 0) return undefined;
  return files.length === 1 ? files[0] : (await vscode.window.showQuickPick(files.map((uri) => ({ label: path.basename(uri.fsPath), description: vscode.workspace.asRelativePath(uri), uri }))))?.uri;
}

function showSlurmError(ctx: Ctx, error: unknown): void {
  if (!(error instanceof SlurmError)) throw error;
  ctx.log.error(`${error.message}${error.hint ? ` (hint: ${error.hint})` : ''}`);
  void vscode.window.showErrorMessage(`Spike Studio: ${error.message}${error.hint ? ` ${error.hint}` : ''}`);
}

/** Train on Cluster…: writes RUN_DIR/slurm/job.sbatch, opens it, and submits when the user says so. */
export async function trainOnCluster(ctx: Ctx, arg?: unknown, options?: { submitWithoutAsking?: boolean; sbatchArgs?: string[] }): Promise<string | undefined> {
  const uri = await configUri(arg, false);
  if (!uri) return undefined;
  if (!(await checkSbatch())) return undefined;
  const doc = await vscode.workspace.openTextDocument(uri);
  const loaded = loadConfig(doc.getText(), uri.fsPath);
  ctx.diagnostics.collection.set(uri, loaded.diagnostics.map(toVscodeDiagnostic));
  if (!loaded.resolved) {
    void vscode.window.showErrorMessage(`Spike Studio: ${path.basename(uri.fsPath)} has errors; see Problems.`);
    return undefined;
  }
  const picked = await pickProfile(uri);
  if (!picked) return undefined;
  const root = rootOf(uri);
  const target: ClusterTarget = { profile: picked.profile, cluster: picked.name, python: picked.profile.python ?? (await pythonFor(ctx, uri, root)), runtimeRoot: ctx.runtimeRoot, sbatchArgs: options?.sbatchArgs };
  const runsDir = config.runsDirectory(root, uri);
  const prepared = prepareClusterRun(root, loaded.resolved, target, runsDir);
  ctx.log.info(`run ${prepared.run.id}: sbatch script ${prepared.script}`);
  if (!options?.submitWithoutAsking) {
    await vscode.window.showTextDocument(vscode.Uri.file(prepared.script), { preview: false });
    const submit = 'Submit';
    const choice = await vscode.window.showInformationMessage(`Spike Studio: submit ${path.basename(prepared.run.dir)} to ${picked.name}?`, { modal: false }, submit);
    if (choice !== submit) {
      ctx.runs.refresh();
      return undefined;
    }
  }
  try {
    const jobId = await submitPrepared(prepared, target);
    ctx.log.info(`run ${prepared.run.id}: submitted as Slurm job ${jobId}`);
    void vscode.window.showInformationMessage(`Spike Studio: submitted job ${jobId} (${picked.name}).`);
    ctx.runs.refresh();
    return prepared.run.id;
  } catch (error) {
    showSlurmError(ctx, error);
    return undefined;
  }
}

/** Run Sweep…: validates every member, then runs them here N at a time or submits a job array. */
export async function runSweep(ctx: Ctx, arg?: unknown, options?: { where?: 'local' | string; parallel?: number }): Promise<string | undefined> {
  const uri = await configUri(arg, true);
  if (!uri) return undefined;
  const doc = await vscode.workspace.openTextDocument(uri);
  const sweep = loadSweep(doc.getText(), uri.fsPath);
  ctx.diagnostics.collection.set(uri, sweep.diagnostics.map(toVscodeDiagnostic));
  if (!sweep.spec && !isSweepFile(uri.fsPath)) {
    void vscode.window.showErrorMessage(`Spike Studio: ${path.basename(uri.fsPath)} has no sweep: section.`);
    return undefined;
  }
  if (sweep.members.length === 0) {
    const first = sweep.diagnostics.find((d) => d.severity === 'error');
    void vscode.window.showErrorMessage(`Spike Studio: the sweep cannot start${first ? `: ${first.message}` : ''}`);
    return undefined;
  }
  const root = rootOf(uri);
  const clusterNames = Object.keys(profiles(uri));
  const where = options?.where ?? (await vscode.window.showQuickPick([{ label: 'local', description: 'here, N at a time' }, ...clusterNames.map((n) => ({ label: n, description: 'Slurm job array' }))], { title: `Run ${sweep.members.length} runs where?` }))?.label;
  if (!where) return undefined;
  const python = await pythonFor(ctx, uri, root);
  const runsDir = config.runsDirectory(root, uri);
  for (const m of sweep.members) ctx.log.info(`sweep member ${m.index}: ${describeParams(m.params)}`);
  if (where !== 'local') {
    if (!(await checkSbatch())) return undefined;
    const problems = checkProfile(where, profiles(uri)[where]);
    if (problems.length) return void vscode.window.showErrorMessage(`Spike Studio: ${problems.join('; ')}`);
    const profile = profiles(uri)[where] as ClusterProfile;
    try {
      const started = await submitSweepArray(root, uri.fsPath, sweep.members, { profile, cluster: where, python: profile.python ?? python, runtimeRoot: ctx.runtimeRoot }, { runsDir, parallel: options?.parallel });
      void vscode.window.showInformationMessage(`Spike Studio: sweep ${started.record.id} submitted as job array ${started.jobId} (${started.runs.length} runs).`);
      ctx.runs.refresh();
      return started.record.id;
    } catch (error) {
      showSlurmError(ctx, error);
      return undefined;
    }
  }
  const gpus = ctx.doctorReport?.cuda ? ctx.doctorReport.gpus.length : 0;
  const parallel = options?.parallel ?? Number(await vscode.window.showInputBox({ title: 'Runs at a time', value: String(Math.max(1, gpus)), validateInput: (v) => (/^[1-9]\d*$/.test(v) ? undefined : 'a positive whole number') }));
  if (!Number.isInteger(parallel) || parallel < 1) return undefined;
  let cancelled = false;
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Spike Studio: sweep of ${sweep.members.length}`, cancellable: true }, (progress, token) => {
    token.onCancellationRequested(() => (cancelled = true));
    let finished = 0;
    return runSweepLocal(root, uri.fsPath, sweep.members, {
      python, runtimeRoot: ctx.runtimeRoot, parallel, gpus, runsDir, cancelled: () => cancelled,
      onStart: (run) => {
        ctx.log.info(`sweep: started ${run.id}`);
        ctx.runs.refresh();
      },
      onDone: (run, state) => {
        finished++;
        progress.report({ message: `${finished}/${sweep.members.length} done`, increment: 100 / sweep.members.length });
        ctx.log.info(`sweep: ${run.id} ${state.done?.status ?? 'failed'}`);
        ctx.runs.refresh();
      },
    });
  });
  void vscode.window.showInformationMessage(`Spike Studio: sweep ${result.record.id} finished (${result.done.filter((d) => d?.status === 'completed').length}/${result.runs.length} completed).`);
  return result.record.id;
}

/** Stop for a Slurm run: `scancel --signal=USR1 --batch` after writing stop-requested. */
export async function stopSlurmRun(ctx: Ctx, run: RunInfo): Promise<void> {
  try {
    await stopJob(run.dir);
    ctx.log.info(`run ${run.id}: stop sent to Slurm job ${run.slurm?.jobId} (checkpoint at the next step)`);
  } catch (error) {
    showSlurmError(ctx, error);
  }
}

/** Opens a Slurm run's stdout or stderr file. */
export async function openSlurmLog(run: RunInfo | undefined, which?: 'stdout' | 'stderr'): Promise<void> {
  if (!run?.slurm) return void vscode.window.showInformationMessage('Spike Studio: not a Slurm run.');
  const kind = which ?? ((await vscode.window.showQuickPick(['stderr', 'stdout'], { title: `Job ${run.slurm.jobId}: which file?` })) as 'stdout' | 'stderr' | undefined);
  if (!kind) return;
  const file = jobLogPath(run.slurm[kind], run.slurm.jobId);
  try {
    await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
  } catch {
    void vscode.window.showInformationMessage(`Spike Studio: ${file} does not exist yet (the job has not started).`);
  }
}

/** Follows the Slurm jobs of the listed runs: job.json is refreshed every few seconds while a job is queued. */
export class SlurmWatcher implements vscode.Disposable {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly warned = new Set<string>();

  constructor(private readonly ctx: Ctx) {
    this.timer = setInterval(() => void this.tick(), POLL_MS);
    void this.tick();
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      let changed = false;
      for (const run of this.ctx.runs.list()) {
        const before = run.slurm;
        if (!before || before.final) continue;
        const after = await refreshJob(run.dir).catch(() => before);
        if (JSON.stringify({ ...after, seenAt: 0 }) !== JSON.stringify({ ...before, seenAt: 0 })) {
          changed = true;
          this.ctx.log.info(`run ${run.id}: Slurm job ${after?.jobId} ${after?.state}${after?.reason && after.reason !== 'None' ? ` (${after.reason})` : ''}`);
        }
        const problem = after ? noEventsProblem(run.dir, after, run.eventCount > 0, FIRST_EVENT_TIMEOUT_MS) : null;
        if (problem && !this.warned.has(run.id)) {
          this.warned.add(run.id);
          this.ctx.log.warn(problem);
          void vscode.window.showWarningMessage(`Spike Studio: ${problem.split('\n')[0]}`);
        }
        if (after && !isActiveState(after.state)) changed = true;
      }
      if (changed) this.ctx.runs.refresh();
    } finally {
      this.busy = false;
    }
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
