// Spike Studio: Set Up Python Environment — the glue around core/runtime/setupEnvironment: where the venv goes,
// the progress notification (Cancel ends pip's process group), pip's output in the log, spikeStudio.pythonPath
// at machine scope. Also the status-bar item shown while no usable interpreter is known, and the startup check
// that decides it (and opens the walkthrough once when Python is not set up yet).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { checkPython, findPython, isInterpreterUsable, setupEnvironment, type DoctorReport, type SetupResult } from '../core/runtime';
import { config, SECTION } from './config';
import type { Ctx } from './ctx';
import { Disposable } from './dispose';
import { pythonExtensionInterpreter } from './python';

export const WALKTHROUGH_ID = 'spikeStudio.getStarted';
/** context key: a usable interpreter is known (set up here, or doctor passed) — the walkthrough's Python step */
export const PYTHON_READY_KEY = 'spikeStudio.pythonReady';
const WALKTHROUGH_SHOWN = 'spikeStudio.walkthroughShown';

type Location = 'global' | 'workspace';

export interface SetupPythonArgs {
  /** skip the quick pick: 'global' (the extension's storage) or 'workspace' (.venv in the first folder) */
  location?: Location;
}

let running: Promise<string | undefined> | undefined;

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function globalEnvDir(ctx: Ctx): string {
  return path.join(ctx.extension.globalStorageUri.fsPath, 'python-env');
}

async function chooseLocation(ctx: Ctx): Promise<string | undefined> {
  const root = workspaceRoot();
  const items: (vscode.QuickPickItem & { dir: string })[] = [
    { label: "$(globe) Spike Studio's own environment", description: 'recommended', detail: globalEnvDir(ctx), dir: globalEnvDir(ctx) },
  ];
  if (root) items.push({ label: '$(folder) .venv in this workspace', detail: path.join(root, '.venv'), dir: path.join(root, '.venv') });
  const pick = await vscode.window.showQuickPick(items, {
    title: 'Spike Studio: Set Up Python Environment',
    placeHolder: 'Where should the Python environment (PyTorch, numpy) go?',
    ignoreFocusOut: true,
  });
  return pick?.dir;
}

/** The interpreter that creates the venv: the Python extension's (unless it lives in the venv itself), else python3. */
async function basePython(ctx: Ctx, venvDir: string): Promise<string> {
  const fromExtension = await pythonExtensionInterpreter(undefined, ctx.log);
  if (fromExtension && !path.resolve(fromExtension).startsWith(path.resolve(venvDir) + path.sep)) return fromExtension;
  return process.platform === 'win32' ? 'python' : 'python3';
}

/** Writes spikeStudio.pythonPath for this machine (Global: the remote machine's settings when remote). */
async function savePythonPath(ctx: Ctx, python: string): Promise<void> {
  const settings = vscode.workspace.getConfiguration(SECTION);
  await settings.update('pythonPath', python, vscode.ConfigurationTarget.Global);
  // a workspace value would hide the machine's: the user asked for this environment, so replace it too
  const inspected = settings.inspect<string>('pythonPath');
  if (inspected?.workspaceValue) await settings.update('pythonPath', python, vscode.ConfigurationTarget.Workspace);
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const scoped = vscode.workspace.getConfiguration(SECTION, folder.uri);
    if (scoped.inspect<string>('pythonPath')?.workspaceFolderValue) await scoped.update('pythonPath', python, vscode.ConfigurationTarget.WorkspaceFolder);
  }
  ctx.log.info(`spikeStudio.pythonPath = ${python} (${vscode.env.remoteName ? `remote machine settings, ${vscode.env.remoteName}` : 'user settings'})`);
}

/**
 * The command. Returns the environment's interpreter when it is ready, else undefined. One setup at a time; a
 * second invocation while one runs waits for it.
 */
export function setupPythonCommand(ctx: Ctx, arg?: unknown): Promise<string | undefined> {
  running ??= runSetup(ctx, (arg ?? {}) as SetupPythonArgs).finally(() => (running = undefined));
  return running;
}

async function runSetup(ctx: Ctx, args: SetupPythonArgs): Promise<string | undefined> {
  const root = workspaceRoot();
  const venvDir = args.location === 'global' ? globalEnvDir(ctx) : args.location === 'workspace' && root ? path.join(root, '.venv') : await chooseLocation(ctx);
  if (!venvDir) return undefined;
  const base = await basePython(ctx, venvDir);
  const pipArgs = config.pipArgs();
  ctx.log.info(`Set Up Python Environment: ${venvDir} (venv from ${base}${pipArgs.length ? `, pip args ${pipArgs.join(' ')}` : ''})`);
  const started = Date.now();
  const result: SetupResult = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Spike Studio: setting up Python', cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => {
        ctx.log.info('Set Up Python Environment: cancelled by the user');
        abort.abort();
      });
      return setupEnvironment({
        venvDir,
        basePython: base,
        runtimeRoot: ctx.runtimeRoot,
        pipArgs,
        signal: abort.signal,
        pipArgsHint: 'the setting spikeStudio.pipArgs',
        onOutput: (line) => ctx.log.info(`  ${line}`),
        onProgress: (p) => progress.report({ message: `${p.total ? `${p.index}/${p.total} ` : ''}${p.title}…${p.detail ? ` ${p.detail}` : ''}` }),
      });
    },
  );
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  ctx.log.info(`Set Up Python Environment: ${result.status} in ${seconds} s${result.message ? `: ${result.message}` : ''}`);
  if (result.status === 'ready' || result.status === 'already-ready') {
    // the report first: the settings change that follows then needs no second doctor run
    if (result.report) ctx.setDoctorReport(result.report);
    await savePythonPath(ctx, result.python);
    const r = result.report;
    const what = r ? `torch ${r.torch ?? '?'} on ${r.device ?? 'cpu'}` : 'ready';
    void vscode.window.showInformationMessage(
      result.status === 'already-ready' ? `Spike Studio: the Python environment is already set up (${what}).` : `Spike Studio: Python is ready (${what}) — ${result.python}`,
    );
    return result.python;
  }
  if (result.status === 'cancelled') {
    void vscode.window.showInformationMessage('Spike Studio: Python setup cancelled. The unfinished environment is not used; running the setup again continues it.');
    return undefined;
  }
  const open = 'Open Output';
  const retry = 'Retry';
  const settings = 'Edit pip Arguments';
  const choice = await vscode.window.showErrorMessage(`Spike Studio: ${result.message ?? 'Python setup failed.'}${result.hint ? ` ${result.hint}` : ''}`, open, retry, settings);
  if (choice === open) ctx.log.show(true);
  else if (choice === settings) await vscode.commands.executeCommand('workbench.action.openSettings', 'spikeStudio.pipArgs');
  else if (choice === retry) return runSetup(ctx, { location: args.location ?? (venvDir === globalEnvDir(ctx) ? 'global' : 'workspace') });
  return undefined;
}

/**
 * "$(warning) Spike Studio: set up Python" in the status bar while the interpreter Train would use cannot train;
 * the context key spikeStudio.pythonReady otherwise. Checked at startup (doctor), when spikeStudio.pythonPath
 * changes and on every doctor report (Train's, the setup's).
 */
export class PythonStatus extends Disposable {
  private readonly item: vscode.StatusBarItem;
  private checking: Promise<void> | undefined;
  private again = false;

  constructor(private readonly ctx: Ctx) {
    super();
    this.item = this._register(vscode.window.createStatusBarItem('spikeStudio.setupPython', vscode.StatusBarAlignment.Left, 9));
    this.item.name = 'Spike Studio Python';
    this.item.text = '$(warning) Spike Studio: set up Python';
    this.item.command = 'spikeStudio.setupPython';
    this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    this._register(ctx.onDidChangeDoctorReport((report) => this.show(report)));
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        // the setup's own write: its doctor report already says this interpreter can train
        const known = ctx.doctorReport;
        if (!e.affectsConfiguration('spikeStudio.pythonPath')) return;
        if (known && isInterpreterUsable(known) && known.executable === config.pythonPath()) return;
        void this.check();
      }),
    );
    this._register(vscode.workspace.onDidGrantWorkspaceTrust(() => void this.check()));
  }

  /** Runs doctor on the interpreter Train would use (trusted workspaces only: it runs that interpreter). */
  check(): Promise<void> {
    if (!vscode.workspace.isTrusted) return Promise.resolve();
    if (this.checking) {
      // the setting changed while a check ran: check again afterwards
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      const root = workspaceRoot() ?? process.cwd();
      const python = findPython({ configured: config.pythonPath(), pythonExtension: await pythonExtensionInterpreter(undefined, this.ctx.log), cwd: root });
      const report = await checkPython(python.path, this.ctx.runtimeRoot, { cwd: root });
      this.ctx.log.info(`startup check: ${python.path} (from ${python.source}) ${isInterpreterUsable(report) ? 'can train' : `cannot train: ${report.problems.map((p) => p.message).join('; ')}`}`);
      this.ctx.setDoctorReport(report);
      if (!isInterpreterUsable(report)) await this.offerWalkthroughOnce();
    })().finally(() => {
      this.checking = undefined;
      if (this.again) {
        this.again = false;
        void this.check();
      }
    });
    return this.checking;
  }

  private show(report: DoctorReport): void {
    const usable = isInterpreterUsable(report);
    void vscode.commands.executeCommand('setContext', PYTHON_READY_KEY, usable);
    if (usable) {
      this.item.hide();
      return;
    }
    const why = report.problems.find((p) => p.kind !== 'data')?.message ?? 'no usable Python interpreter';
    this.item.tooltip = new vscode.MarkdownString(`**Spike Studio** cannot train with \`${report.executable}\`: ${why}\n\nClick to set up a Python environment with PyTorch.`);
    this.item.show();
  }

  /** The first time Python turns out not to be set up, the Get Started walkthrough opens (once per installation). */
  private async offerWalkthroughOnce(): Promise<void> {
    const state = this.ctx.extension.globalState;
    if (state.get<boolean>(WALKTHROUGH_SHOWN)) return;
    await state.update(WALKTHROUGH_SHOWN, true);
    await openWalkthrough(this.ctx);
  }
}

export async function openWalkthrough(ctx: Ctx): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${ctx.extension.extension.id}#${WALKTHROUGH_ID}`, false);
}
