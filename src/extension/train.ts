// The Train flow: config → diagnostics → Python → doctor → run dir → runtime process → progress.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { loadConfig, type ConfigDiagnostic, type ResolvedConfig } from '../core/config';
import type { ErrorEvent, RuntimeEvent } from '../core/protocol';
import { createRun, describeFailure, isResumable, readRun, RESOLVED_CONFIG_FILE, EVENTS_FILE, type CreatedRun, type RunInfo } from '../core/runs';
import { DATASET_MIRROR_ENV, downloadMessage, launchTraining, type LaunchResult, trainingBlockedReason, type DoctorReport, type TrainingProcess } from '../core/runtime';
import { config, isSpikeConfigPath } from './config';
import { pickConfig } from './configs';
import { reportCustomRunError } from './customModel';
import type { Ctx } from './ctx';
import { toVscodeDiagnostic } from './diagnostics';
import { pythonExtensionInterpreter } from './python';
import { setupPythonCommand } from './setupPython';
import type { ActiveRun } from './runs';
import { pct } from './statusBar';
import { DashboardPanel } from './views/dashboard';

const OPEN_OUTPUT = 'Open Output';
const COPY_COMMAND = 'Copy Command';
const OPEN_SETTING = 'Set Python Path';
const SET_UP_PYTHON = 'Set Up Python Environment';

/** Problems that a new environment fixes: no interpreter, no torch or numpy, torch or Python too old, doctor not starting. */
function setupFixes(report: DoctorReport): boolean {
  return report.problems.some((p) => p.kind !== 'data' && !/CUDA query failed/i.test(p.message));
}

/** The config to train: the argument, else the active editor, else the one visible config, else the workspace's only one, else a pick. */
async function resolveConfigDocument(arg: unknown): Promise<vscode.TextDocument | undefined> {
  const uri = await pickConfig(arg, 'Spike Studio: Train');
  return uri ? vscode.workspace.openTextDocument(uri) : undefined;
}

export function workspaceRootFor(uri: vscode.Uri): string {
  return vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? path.dirname(uri.fsPath);
}

function firstError(diagnostics: readonly ConfigDiagnostic[]): ConfigDiagnostic | undefined {
  return diagnostics.find((d) => d.severity === 'error');
}

/** Says why this Python cannot train; true when the user then set up a Python environment that can. */
async function showDoctorProblems(ctx: Ctx, report: DoctorReport, pythonSource: string): Promise<boolean> {
  ctx.log.error(`Python ${report.executable} cannot train:`);
  for (const p of report.problems) ctx.log.error(`  ${p.kind}: ${p.message}${p.hint ? ` (fix: ${p.hint})` : ''}`);
  const first = report.problems[0];
  const command = report.problems.find((p) => p.hint)?.hint;
  // No interpreter was chosen (no setting, Python extension, SPIKE_STUDIO_PYTHON or .venv): say how to choose one.
  // Over Remote-SSH the setting belongs in the Remote settings, where the training runs.
  const guessed = pythonSource === 'default';
  const choose = guessed ? ` Or choose an interpreter that has PyTorch: set spikeStudio.pythonPath${vscode.env.remoteName ? ' in the Remote settings' : ''}.` : '';
  const message = first
    ? `Spike Studio: ${first.message}${command ? ` Install with: ${command}` : ''}${choose}`
    : `Spike Studio: ${report.executable} cannot run the training runtime.${choose}`;
  const actions = [...(setupFixes(report) ? [SET_UP_PYTHON] : []), ...(command ? [COPY_COMMAND] : []), ...(guessed ? [OPEN_SETTING] : []), OPEN_OUTPUT];
  const choice = await vscode.window.showErrorMessage(message, ...actions);
  if (choice === SET_UP_PYTHON) {
    return (await setupPythonCommand(ctx)) !== undefined;
  } else if (choice === OPEN_SETTING) {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'spikeStudio.pythonPath');
  } else if (choice === COPY_COMMAND && command) {
    await vscode.env.clipboard.writeText(command);
    void vscode.window.showInformationMessage(`Copied: ${command}`);
  } else if (choice === OPEN_OUTPUT) {
    ctx.log.show(true);
  }
  return false;
}

export async function showRuntimeError(ctx: Ctx, run: { name: string }, error: ErrorEvent): Promise<void> {
  const hint = error.hint ? ` — ${error.hint}` : '';
  const choice = await vscode.window.showErrorMessage(`Spike Studio: ${run.name} failed (${error.kind}): ${error.message}${hint}`, OPEN_OUTPUT);
  if (choice === OPEN_OUTPUT) ctx.runtimeLog.show(true);
}

/** Restricted Mode: shows why training is refused and returns true. */
async function refuseUntrusted(): Promise<boolean> {
  const blocked = trainingBlockedReason(vscode.workspace);
  if (!blocked) return false;
  const manage = 'Manage Workspace Trust';
  const choice = await vscode.window.showWarningMessage(blocked, manage);
  if (choice === manage) await vscode.commands.executeCommand('workbench.trust.manage');
  return true;
}

export async function train(ctx: Ctx, arg?: unknown): Promise<void> {
  if (await refuseUntrusted()) return;
  const doc = await resolveConfigDocument(arg);
  if (!doc) return;
  if (!isSpikeConfigPath(doc.uri.path)) {
    void vscode.window.showErrorMessage(`Spike Studio: ${path.basename(doc.uri.fsPath)} is not a *.spike.yaml config.`);
    return;
  }
  if (doc.isUntitled) {
    void vscode.window.showErrorMessage('Spike Studio: save the config as a *.spike.yaml file first.');
    return;
  }
  if (doc.isDirty && !(await doc.save())) {
    void vscode.window.showErrorMessage('Spike Studio: could not save the config.');
    return;
  }

  // 1. the config
  const file = doc.uri.fsPath;
  const loaded = loadConfig(doc.getText(), file);
  ctx.diagnostics.collection.set(doc.uri, loaded.diagnostics.map(toVscodeDiagnostic));
  const err = firstError(loaded.diagnostics);
  if (err || !loaded.resolved) {
    const count = loaded.diagnostics.filter((d) => d.severity === 'error').length;
    const where = err ? `line ${err.range.start.line + 1}: ${err.message}` : 'the config could not be resolved';
    ctx.log.warn(`${file}: ${count} error(s); first: ${where}`);
    const show = 'Show Problems';
    const choice = await vscode.window.showErrorMessage(`Spike Studio: ${path.basename(file)} has ${count || 'an'} error${count === 1 ? '' : 's'} (${where})`, show);
    if (choice === show) await vscode.commands.executeCommand('workbench.actions.view.problems');
    return;
  }
  const resolved = loaded.resolved;

  // 2. Python, doctor, 3. the run
  const root = workspaceRootFor(doc.uri);
  const launched = await launch(ctx, doc.uri, root, { runDir: () => newRunDir(root, doc.uri, resolved) });
  if (launched.kind === 'doctor-failed') {
    // Set Up Python Environment from the error, then the training the user asked for
    if (await showDoctorProblems(ctx, launched.report, launched.python.source)) await train(ctx, doc.uri);
    return;
  }
  if (launched.kind !== 'started') return;
  ctx.log.info(`run ${launched.run.id}: ${launched.run.dir}`);
  await follow(ctx, launched.run, resolved.name, file, launched.proc);
}

/** launchTraining with the interpreter this scope's settings choose; the doctor report is logged and remembered. */
async function launch(ctx: Ctx, scope: vscode.Uri, root: string, run: { runDir: () => CreatedRun | null; resume?: boolean }): Promise<LaunchResult> {
  return launchTraining({
    python: { configured: config.pythonPath(scope), pythonExtension: await pythonExtensionInterpreter(scope, ctx.log), cwd: root },
    runtimeRoot: ctx.runtimeRoot,
    cwd: root,
    doctor: { cwd: root },
    aroundDoctor: (check) => vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Spike Studio: checking Python…' }, check),
    onPython: (python) => ctx.log.info(`python: ${python.path} (from ${python.source})`),
    onDoctorReport: (report) => {
      ctx.setDoctorReport(report);
      ctx.log.info(`doctor: python ${report.python ?? '?'}, torch ${report.torch ?? 'missing'}, device ${report.device ?? '?'}${report.cuda ? ' (CUDA)' : ''}`);
      for (const p of report.problems) ctx.log.warn(`doctor: ${p.kind}: ${p.message}`);
    },
    env: datasetEnv(),
    ...run,
  });
}

/** A new run folder for a config; null (and a message) when it cannot be made. */
function newRunDir(root: string, scope: vscode.Uri, resolved: ResolvedConfig): CreatedRun | null {
  const runsDir = config.runsDirectory(root, scope);
  try {
    return createRun(root, resolved, undefined, runsDir ? { runsDir } : {});
  } catch (error) {
    void vscode.window.showErrorMessage(`Spike Studio: could not create the run folder: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
}

/** spikeStudio.datasetMirror → SPIKE_STUDIO_DATASET_MIRROR for the runtime (empty: the publishers' URLs, or the variable
 * already in the extension host's environment). */
function datasetEnv(): Record<string, string> {
  const mirror = config.datasetMirror();
  return mirror ? { [DATASET_MIRROR_ENV]: mirror } : {};
}

/** Tracks a started process: logs, error messages, the dashboard, a progress notification, the end message. */
async function follow(ctx: Ctx, created: CreatedRun, name: string, file: string | null, proc: TrainingProcess): Promise<void> {
  ctx.runtimeLog.info(`── run ${created.id} (pid ${proc.pid ?? '?'}) ──`);
  const run = ctx.runs.track(created, name, file, proc);
  let partial = '';
  const stderrSub = proc.onStderr((text) => {
    const lines = (partial + text).split(/\r?\n/);
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) ctx.runtimeLog.info(line);
  });
  const straySub = proc.onStrayOutput((line) => ctx.runtimeLog.warn(`stdout: ${line}`));
  let lastError: ErrorEvent | undefined;
  const eventSub = proc.onEvent((e: RuntimeEvent) => {
    if (e.type === 'error') {
      lastError = e;
      reportCustomRunError(file, e); // an exception in the researcher's model: a diagnostic at its file and line
      ctx.log.error(`run ${run.id}: ${e.kind}: ${e.message}${e.hint ? ` (hint: ${e.hint})` : ''}`);
      void showRuntimeError(ctx, run, e);
    } else if (e.type === 'warning') {
      ctx.log.warn(`run ${run.id}: ${e.message}${e.hint ? ` (hint: ${e.hint})` : ''}`);
    }
  });
  DashboardPanel.createOrShow(ctx, run.id);

  // 4. progress until the process exits
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Spike Studio: ${run.name}`, cancellable: true },
    (progress, token) =>
      new Promise<void>((resolve) => {
        let reported = 0;
        const report = () => {
          const done = progressFraction(run);
          progress.report({ message: progressMessage(run), increment: Math.max(0, (done - reported) * 100) });
          reported = Math.max(reported, done);
        };
        progress.report({ message: 'starting…' });
        const sub = ctx.runs.onDidProgress((r) => r.id === run.id && report());
        token.onCancellationRequested(() => {
          ctx.log.info(`run ${run.id}: stop requested from the notification`);
          ctx.runs.stop(run.id);
        });
        void proc.exited.then(() => {
          sub.dispose();
          resolve();
        });
      }),
  );
  const exit = await proc.exited;
  if (partial.trim()) ctx.runtimeLog.info(partial);
  stderrSub.dispose();
  straySub.dispose();
  eventSub.dispose();
  ctx.log.info(`run ${run.id}: ${run.status} (exit ${exit.code ?? exit.signal})`);
  await announceEnd(ctx, run, exit.code, lastError);
}

function progressFraction(run: ActiveRun): number {
  const p = run.progress;
  if (!p.epochs || !p.stepsPerEpoch) return 0;
  const step = Math.min(p.step, p.epochs * p.stepsPerEpoch);
  return step / (p.epochs * p.stepsPerEpoch);
}

function progressMessage(run: ActiveRun): string {
  const p = run.progress;
  if (run.stopRequested) return p.download ? 'stopping the download (it resumes next time)…' : 'stopping after this step…';
  if (p.download) return `${downloadMessage(p.download)} — Cancel stops the run`;
  if (p.compiling) return compilingMessage(p.compiling.cacheDir);
  if (!p.epochs) return 'starting…';
  const parts = [`epoch ${p.epoch}/${p.epochs}`];
  if (p.step) parts.push(`step ${p.step}`);
  if (p.loss !== null) parts.push(`loss ${p.loss.toFixed(3)}`);
  if (p.acc !== null) parts.push(`acc ${pct(p.acc)}`);
  if (p.bestTop1 !== null) parts.push(`best top-1 ${pct(p.bestTop1)}`);
  return parts.join(' · ');
}

/** train.compile: the first step compiles (minutes on a cold cache, seconds on a warm one). */
function compilingMessage(cacheDir: string | null): string {
  if (!cacheDir) return 'compiling the training step…';
  const home = os.homedir();
  const shown = home && (cacheDir === home || cacheDir.startsWith(home + path.sep)) ? '~' + cacheDir.slice(home.length) : cacheDir;
  return `compiling the training step… (first run only; cached in ${shown})`;
}

async function announceEnd(ctx: Ctx, run: ActiveRun, code: number | null, error: ErrorEvent | undefined): Promise<void> {
  const open = 'Open Dashboard';
  if (run.status === 'completed') {
    const choice = await vscode.window.showInformationMessage(`Spike Studio: ${run.name} finished — best top-1 ${pct(run.progress.bestTop1)}.`, open);
    if (choice === open) DashboardPanel.createOrShow(ctx, run.id);
  } else if (run.status === 'stopped') {
    void vscode.window.showInformationMessage(`Spike Studio: ${run.name} stopped (the last checkpoint was saved).`);
  } else if (!error) {
    // failures with an error event were announced when it arrived. Here: the process died without `done`
    // (killed, crashed): say so, name the last checkpoint, offer to resume from it.
    const info = readRun(run.dir, { isAlive: () => false });
    const resumable = isResumable(info);
    const choice = await vscode.window.showErrorMessage(
      `Spike Studio: ${run.name} failed (exit ${code ?? '?'}): ${describeFailure(info)}`,
      ...(resumable ? [RESUME_RUN] : []),
      OPEN_OUTPUT,
    );
    if (choice === OPEN_OUTPUT) ctx.runtimeLog.show(true);
    else if (choice === RESUME_RUN) await resumeRun(ctx, run.id);
  }
}

const RESUME_RUN = 'Resume Run';

function runIdArg(arg: unknown): string | undefined {
  if (typeof arg === 'string' && arg) return arg;
  if (typeof arg === 'object' && arg !== null && typeof (arg as { id?: unknown }).id === 'string') return (arg as { id: string }).id;
  return undefined;
}

/** Spike Studio: Resume Run — `train --resume RUN_DIR` for a failed or stopped run; the dashboard follows the same run. */
export async function resumeRun(ctx: Ctx, arg?: unknown): Promise<void> {
  if (await refuseUntrusted()) return;
  let info: RunInfo | undefined;
  const id = runIdArg(arg);
  if (id) {
    info = ctx.runs.list().find((r) => r.id === id);
    if (!info) {
      void vscode.window.showErrorMessage(`Spike Studio: no run ${id} in this workspace.`);
      return;
    }
  } else {
    const candidates = ctx.runs.list().filter((r) => isResumable(r));
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage('Spike Studio: no failed or stopped run with a checkpoint to resume.');
      return;
    }
    info = (
      await vscode.window.showQuickPick(
        candidates.map((r) => ({ label: r.name, description: `${r.status} · ${r.id}`, detail: r.failure ?? undefined, run: r })),
        { title: 'Spike Studio: Resume Run', placeHolder: 'Which run? (it continues from checkpoints/last.pt)' },
      )
    )?.run;
    if (!info) return;
  }
  if (info.status === 'running' || ctx.runs.activeRun(info.id)?.status === 'running') {
    void vscode.window.showInformationMessage(`Spike Studio: ${info.name} is still running.`);
    return;
  }
  if (!isResumable(info)) {
    void vscode.window.showErrorMessage(`Spike Studio: ${info.name} cannot be resumed: ${info.status === 'completed' ? 'it completed' : 'it wrote no checkpoint'}.`);
    return;
  }
  const scope = info.source ? vscode.Uri.file(info.source) : vscode.Uri.file(info.dir);
  const root = workspaceRootFor(scope);
  const created: CreatedRun = { id: info.id, dir: info.dir, configPath: path.join(info.dir, RESOLVED_CONFIG_FILE), eventsPath: path.join(info.dir, EVENTS_FILE) };
  const launched = await launch(ctx, scope, root, { runDir: () => created, resume: true });
  if (launched.kind === 'doctor-failed') {
    if (await showDoctorProblems(ctx, launched.report, launched.python.source)) await resumeRun(ctx, info.id);
    return;
  }
  if (launched.kind !== 'started') return;
  ctx.log.info(`run ${info.id}: resuming from ${info.dir} (python ${launched.python.path})`);
  await follow(ctx, created, info.name, info.source, launched.proc);
}
