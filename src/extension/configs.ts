// Which config a command means (Train, Open Architecture Graph, Validate: one helper), and the commands that make
// or check configs: New Config…, Validate Config, Open Example.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { chooseConfig, knownPresets, configFileName, defaultConfigName, newConfigText, presetGroups, validateConfigName } from '../core/config';
import { isSpikeConfig } from './config';
import type { Ctx } from './ctx';

/** context key: New Config… wrote a file (the walkthrough's last step) */
export const CONFIG_CREATED_KEY = 'spikeStudio.configCreated';

const CONFIG_GLOB = '**/*.spike.{yaml,yml}';
const CONFIG_EXCLUDE = '**/{node_modules,.spike-studio,.venv}/**';

function fileOf(doc: vscode.TextDocument | undefined): string | undefined {
  return doc && doc.uri.scheme === 'file' && isSpikeConfig(doc) ? doc.uri.fsPath : undefined;
}

/**
 * The config a command means: `arg` (a Uri), else the active editor's, else the one visible, else the workspace's
 * only *.spike.yaml, else a quick pick of them. undefined (with a message) when there is none or the pick is dismissed.
 */
export async function pickConfig(arg: unknown, title: string): Promise<vscode.Uri | undefined> {
  const active = fileOf(vscode.window.activeTextEditor?.document);
  const visible = vscode.window.visibleTextEditors.map((e) => fileOf(e.document)).filter((f): f is string => f !== undefined);
  const explicit = arg instanceof vscode.Uri ? arg.fsPath : undefined;
  let workspace: string[] = [];
  if (!explicit && !active && new Set(visible).size !== 1) {
    workspace = (await vscode.workspace.findFiles(CONFIG_GLOB, CONFIG_EXCLUDE, 200)).filter((u) => u.scheme === 'file').map((u) => u.fsPath);
  }
  const choice = chooseConfig({ explicit, active, visible, workspace });
  if (choice.kind === 'use') return arg instanceof vscode.Uri ? arg : vscode.Uri.file(choice.file);
  if (choice.kind === 'none') {
    const create = 'New Config…';
    const answer = await vscode.window.showInformationMessage('Spike Studio: this workspace has no *.spike.yaml config yet.', create);
    if (answer === create) await vscode.commands.executeCommand('spikeStudio.newConfig');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    choice.files.map((file) => ({ label: path.basename(file), description: vscode.workspace.asRelativePath(file), file })),
    { title, placeHolder: 'Which config?' },
  );
  return pick ? vscode.Uri.file(pick.file) : undefined;
}

// ------------------------------------------------------------------------------------------ New Config…

export interface NewConfigArgs {
  preset: string;
  name: string;
  /** the folder to write to (default: the first workspace folder) */
  folder?: string;
}

function isNewConfigArgs(arg: unknown): arg is NewConfigArgs {
  return typeof arg === 'object' && arg !== null && typeof (arg as NewConfigArgs).preset === 'string' && typeof (arg as NewConfigArgs).name === 'string';
}

async function pickPreset(): Promise<string | undefined> {
  type Item = vscode.QuickPickItem & { preset?: string };
  const items: Item[] = [];
  for (const group of presetGroups(knownPresets())) {
    items.push({ label: group.title, kind: vscode.QuickPickItemKind.Separator });
    for (const item of group.items) items.push({ label: item.preset, description: item.paperRow, detail: item.description, preset: item.preset });
  }
  const pick = await vscode.window.showQuickPick(items, {
    title: 'Spike Studio: New Config (1/2)',
    placeHolder: 'Start from which preset? (paper top-1 · parameters · time steps)',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  return pick?.preset;
}

async function pickFolder(): Promise<string | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length <= 1) return folders[0]?.uri.fsPath;
  return (await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Create the config in which folder?' }))?.uri.fsPath;
}

function writeAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text, { flag: 'wx' });
  try {
    // link() fails when the target exists: a file made meanwhile is never overwritten
    fs.linkSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Spike Studio: New Config… — preset (grouped by architecture and dataset, with the paper row), then a name;
 * writes <folder>/<name>.spike.yaml with `extends: <preset>` and opens it. With `{ preset, name, folder? }` it
 * asks nothing. Returns the new file's Uri (undefined when dismissed or refused).
 */
export async function newConfigCommand(ctx: Ctx, arg?: unknown): Promise<vscode.Uri | undefined> {
  const given = isNewConfigArgs(arg) ? arg : undefined;
  const preset = given?.preset ?? (await pickPreset());
  if (!preset) return undefined;
  const presets = knownPresets();
  if (!Object.prototype.hasOwnProperty.call(presets, preset)) {
    void vscode.window.showErrorMessage(`Spike Studio: unknown preset "${preset}".`);
    return undefined;
  }
  const folder = given?.folder ?? (await pickFolder());
  if (!folder) {
    void vscode.window.showErrorMessage('Spike Studio: open a folder first; the new config is written into it.');
    return undefined;
  }
  const exists = (name: string) => fs.existsSync(path.join(folder, configFileName(name)));
  let name = given?.name;
  if (name === undefined) {
    name = await vscode.window.showInputBox({
      title: 'Spike Studio: New Config (2/2)',
      prompt: `Name of the config (written to ${path.basename(folder)}/<name>.spike.yaml, extends ${preset})`,
      value: defaultConfigName(preset),
      validateInput: (v) => validateConfigName(v.replace(/\.spike\.ya?ml$/i, '')) ?? (exists(v) ? `${configFileName(v)} already exists.` : undefined),
    });
    if (name === undefined) return undefined;
  }
  const bad = validateConfigName(name.replace(/\.spike\.ya?ml$/i, ''));
  if (bad) {
    void vscode.window.showErrorMessage(`Spike Studio: "${name}": ${bad}`);
    return undefined;
  }
  const file = path.join(folder, configFileName(name));
  try {
    writeAtomic(file, newConfigText(preset, presets[preset], name));
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'EEXIST' ? 'it already exists' : error instanceof Error ? error.message : String(error);
    void vscode.window.showErrorMessage(`Spike Studio: could not write ${file}: ${why}.`);
    return undefined;
  }
  ctx.log.info(`New Config: ${file} (extends ${preset})`);
  const uri = vscode.Uri.file(file);
  await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
  void vscode.commands.executeCommand('setContext', CONFIG_CREATED_KEY, true);
  return uri;
}

// ------------------------------------------------------------------------------------------ Validate

/** Spike Studio: Validate Config — the chosen config's problems in the Problems view, and a one-line summary. */
export async function validateConfigCommand(ctx: Ctx, arg?: unknown): Promise<number | undefined> {
  const uri = await pickConfig(arg, 'Spike Studio: Validate Config');
  if (!uri) return undefined;
  const doc = await vscode.workspace.openTextDocument(uri);
  const diagnostics = ctx.diagnostics.validate(doc);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.filter((d) => d.severity === 'warning').length;
  const name = path.basename(uri.fsPath);
  if (errors + warnings === 0) {
    void vscode.window.showInformationMessage(`Spike Studio: ${name} is valid.`);
  } else {
    const show = 'Show Problems';
    const say = `Spike Studio: ${name}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}.`;
    const choice = await (errors ? vscode.window.showErrorMessage(say, show) : vscode.window.showWarningMessage(say, show));
    if (choice === show) await vscode.commands.executeCommand('workbench.actions.view.problems');
  }
  return errors;
}

// ------------------------------------------------------------------------------------------ Open Example

const EXAMPLE = 'mnist-spikformer.spike.yaml';

/** Spike Studio: Open Example — the workspace's examples/*.spike.yaml, else a copy of the shipped MNIST example in the folder. */
export async function openExampleCommand(ctx: Ctx): Promise<vscode.Uri | undefined> {
  const found = await vscode.workspace.findFiles('**/examples/*.spike.{yaml,yml}', CONFIG_EXCLUDE, 20);
  let uri = found.find((u) => path.basename(u.fsPath) === EXAMPLE) ?? found[0];
  if (!uri) {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    if (!folder) {
      void vscode.window.showInformationMessage('Spike Studio: open a folder first; the example config is copied into it.');
      return undefined;
    }
    const target = path.join(folder, EXAMPLE);
    if (!fs.existsSync(target)) fs.copyFileSync(path.join(ctx.extension.extensionPath, 'examples', EXAMPLE), target);
    uri = vscode.Uri.file(target);
  }
  await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
  return uri;
}
