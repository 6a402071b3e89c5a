// The Train flow: config → diagnostics → Python → doctor → run dir → runtime process → progress.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { loadConfig, type ConfigDiagnostic } from '../core/config';
import type { ErrorEvent, RuntimeEvent } from '../core/protocol';
import { createRun } from '../core/runs';
import { findPython, runDoctor, startTraining, type DoctorReport } from '../core/runtime';
import { config, isSpikeConfig, isSpikeConfigPath } from './config';
import type { Ctx } from './ctx';
import { toVscodeDiagnostic } from './diagnostics';
import { pythonExtensionInterpreter } from './python';
import type { ActiveRun } from './runs';
import { pct } from './statusBar';
import { DashboardPanel } from './views/dashboard';

const OPEN_OUTPUT = 'Open Output';
const COPY_COMMAND = 'Copy Command';

/** Finds the config to train: the argument, else the active editor, else a pick among the workspace's configs. */
async function resolveConfigDocument(arg: unknown): Promise<vscode.TextDocument | undefined> {
  if (arg instanceof vscode.Uri) return vscode.workspace.openTextDocument(arg);
  const active = vscode.window.activeTextEditor?.document;
  if (active && isSpikeConfig(active)) return active;
  const files = await vscode.workspace.findFiles('**/*.spike.{yaml,yml}', '**/{node_modules,.spike-studio}/**', 50);
  if (files.length === 0) {
    void vscode.window.showInformationMessage('Spike Studio: open a *.spike.yaml config to train (see the examples folder).');
    return undefined;
  }
  const pick =
    files.length === 1
      ? files[0]
      : (
          await vscode.window.showQuickPick(
            files.map((uri) => ({ label: path.basename(uri.fsPath), description: vscode.workspace.asRelativePath(uri), uri })),
            { title: 'Spike Studio: Train', placeHolder: 'Which config?' },
          )
        )?.uri;
  return pick ? vscode.workspace.openTextDocument(pick) : undefined;
}

function workspaceRootFor(uri: vscode.Uri): string {
  return vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? path.dirname(uri.fsPath);
}

function firstError(diagnostics: readonly ConfigDiagnostic[]): ConfigDiagnostic | undefined {
  return diagnostics.find((d) => d.severity === 'error');
}

async function showDoctorProblems(ctx: Ctx, report: DoctorReport): Promise<void> {
  ctx.log.error(`Python ${report.executable} cannot train:`);
  for (const p of report.problems) ctx.log.error(`  ${p.kind}: ${p.message}${p.hint ? ` (fix: ${p.hint})` : ''}`);
  const first = report.problems[0];
  const command = report.problems.find((p) => p.hint)?.hint;
  const message = first
    ? `Spike Studio: ${first.message}${command ? ` Install with: ${command}` : ''}`
    : `Spike Studio: ${report.executable} cannot run the training runtime.`;
  const choice = await vscode.window.showErrorMessage(message, ...(command ? [COPY_COMMAND] : []), OPEN_OUTPUT);
  if (choice === COPY_COMMAND && command) {
    await vscode.env.clipboard.writeText(command);
    void vscode.window.showInformationMessage(`Copied: ${command}`);
  } else if (choice === OPEN_OUTPUT) {
    ctx.log.show(true);
  }
}

export async function showRuntimeError(ctx: Ctx, run: { name: string }, error: ErrorEvent): Promise<void> {
  const hint = error.hint ? ` — ${error.hint}` : '';
  const choice = await vscode.window.showErrorMessage(`Spike Studio: ${run.name} failed (${error.kind}): ${error.message}${hint}`, OPEN_OUTPUT);
  if (choice === OPEN_OUTPUT) ctx.runtimeLog.show(true);
}

export async function train(ctx: Ctx, arg?: unknown): Promise<void> {
  if (!vscode.workspace.isTrusted) {
    const manage = 'Manage Workspace Trust';
    const choice = await vscode.window.showWarningMessage(
      'Spike Studio: training runs Python code for this workspace, so it is disabled in Restricted Mode. Trust the workspace to train.',
      manage,
    );
    if (choice === manage) await vscode.commands.executeCommand('workbench.trust.manage');
    return;
  }
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

  // 2. Python
  const root = workspaceRootFor(doc.uri);
  const python = findPython({ configured: config.pythonPath(doc.uri), pythonExtension: await pythonExtensionInterpreter(doc.uri, ctx.log), cwd: root });
  ctx.log.info(`python: ${python.path} (from ${python.source})`);
  const report = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'Spike Studio: checking Python…' },
    () => runDoctor(python.path, ctx.runtimeRoot, { cwd: root }),
  );
  ctx.setDoctorReport(report);
  ctx.log.info(`doctor: python ${report.python ?? '?'}, torch ${report.torch ?? 'missing'}, device ${report.device ?? '?'}${report.cuda ? ' (CUDA)' : ''}`);
  if (!report.ok) {
    await showDoctorProblems(ctx, report);
    return;
  }

  // 3. the run
  const runsDir = config.runsDirectory(root, doc.uri);
  let created;
  try {
    created = createRun(root, resolved, undefined, runsDir ? { runsDir } : {});
  } catch (error) {
    void vscode.window.showErrorMessage(`Spike Studio: could not create the run folder: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  ctx.log.info(`run ${created.id}: ${created.dir}`);
  const proc = startTraining({ python: python.path, runtimeRoot: ctx.runtimeRoot, resolvedConfigPath: created.configPath, runDir: created.dir, cwd: root });
  ctx.runtimeLog.info(`── run ${created.id} (pid ${proc.pid ?? '?'}) ──`);
  const run = ctx.runs.track(created, resolved.name, file, proc);
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
  if (run.stopRequested) return 'stopping after this step…';
  if (!p.epochs) return 'starting…';
  const parts = [`epoch ${p.epoch}/${p.epochs}`];
  if (p.step) parts.push(`step ${p.step}`);
  if (p.loss !== null) parts.push(`loss ${p.loss.toFixed(3)}`);
  if (p.acc !== null) parts.push(`acc ${pct(p.acc)}`);
  if (p.bestTop1 !== null) parts.push(`best top-1 ${pct(p.bestTop1)}`);
  return parts.join(' · ');
}

async function announceEnd(ctx: Ctx, run: ActiveRun, code: number | null, error: ErrorEvent | undefined): Promise<void> {
  const open = 'Open Dashboard';
  if (run.status === 'completed') {
    const choice = await vscode.window.showInformationMessage(`Spike Studio: ${run.name} finished — best top-1 ${pct(run.progress.bestTop1)}.`, open);
    if (choice === open) DashboardPanel.createOrShow(ctx, run.id);
  } else if (run.status === 'stopped') {
    void vscode.window.showInformationMessage(`Spike Studio: ${run.name} stopped (the last checkpoint was saved).`);
  } else if (!error) {
    // failures with an error event were announced when it arrived
    const choice = await vscode.window.showErrorMessage(`Spike Studio: training ${run.name} exited with code ${code ?? '?'} without finishing.`, OPEN_OUTPUT);
    if (choice === OPEN_OUTPUT) ctx.runtimeLog.show(true);
  }
}
