// "Spike Studio: Import Reference Config": a Spikformer / Spikingformer repository's flat hyper-parameter .yml
// → `<name>.spike.yaml` next to it (written atomically: a temp file, then a rename), opened in an editor; the keys
// without an equivalent are listed in the Spike Studio output channel and a notification.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parse } from 'yaml';
import { importReferenceConfig } from '../../core/config';
import type { Ctx } from '../ctx';

export const IMPORT_ARCHS = ['spikformer', 'spikingformer'] as const;

export interface ImportCommandOptions {
  /** overwrite an existing target without asking */
  overwrite?: boolean;
  /** do not open the written file (tests) */
  noOpen?: boolean;
}

function uriOf(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === 'string' && arg) return path.isAbsolute(arg) ? vscode.Uri.file(arg) : vscode.Uri.parse(arg);
  return undefined;
}

/** `<dir>/<name>.spike.yaml` for `<dir>/<name>.yml`. */
export function importTarget(source: vscode.Uri): vscode.Uri {
  const base = path.posix.basename(source.path).replace(/\.ya?ml$/i, '').replace(/\.spike$/i, '');
  return vscode.Uri.joinPath(source, '..', `${base || 'imported'}.spike.yaml`);
}

/** The architecture the yml's `model:` names, if any (to preselect it). */
function detectArch(ymlText: string): string | undefined {
  try {
    const raw = parse(ymlText) as unknown;
    const model = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).model : undefined;
    if (typeof model !== 'string') return undefined;
    return /spikingformer/i.test(model) ? 'spikingformer' : /spikformer/i.test(model) ? 'spikformer' : undefined;
  } catch {
    return undefined;
  }
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}

/** Writes a file atomically: a temp file in the same folder, then a rename over the target. */
async function writeAtomic(target: vscode.Uri, text: string): Promise<void> {
  const tmp = vscode.Uri.joinPath(target, '..', `.${path.posix.basename(target.path)}.${process.pid}-${Date.now()}.tmp`);
  await vscode.workspace.fs.writeFile(tmp, new TextEncoder().encode(text));
  try {
    await vscode.workspace.fs.rename(tmp, target, { overwrite: true });
  } catch (error) {
    await Promise.resolve(vscode.workspace.fs.delete(tmp)).catch(() => undefined);
    throw error;
  }
}

/** The command: returns the written file's uri, or undefined when cancelled. */
export async function importReferenceConfigCommand(ctx: Ctx, uriArg?: unknown, archArg?: unknown, options: ImportCommandOptions = {}): Promise<vscode.Uri | undefined> {
  let source = uriOf(uriArg);
  if (!source) {
    const picked = await vscode.window.showOpenDialog({
      title: 'Import a Spikformer / Spikingformer reference config',
      openLabel: 'Import',
      canSelectMany: false,
      filters: { 'Reference config': ['yml', 'yaml'] },
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    source = picked?.[0];
    if (!source) return undefined;
  }
  const ymlText = new TextDecoder().decode(await vscode.workspace.fs.readFile(source));

  let arch = typeof archArg === 'string' && (IMPORT_ARCHS as readonly string[]).includes(archArg) ? archArg : undefined;
  if (!arch) {
    const detected = detectArch(ymlText);
    const items = IMPORT_ARCHS.map((a) => ({ label: a, description: a === detected ? 'named by the file' : undefined, picked: a === detected }));
    if (detected) items.sort((a, b) => Number(b.label === detected) - Number(a.label === detected));
    const choice = await vscode.window.showQuickPick(items, { title: `Import ${path.posix.basename(source.path)}: which architecture?`, placeHolder: 'The reference repository the config comes from' });
    if (!choice) return undefined;
    arch = choice.label;
  }

  const target = importTarget(source);
  const result = importReferenceConfig(ymlText, { arch, name: path.posix.basename(target.path).replace(/\.spike\.yaml$/, ''), sourceName: path.posix.basename(source.path) });
  if (!options.overwrite && (await exists(target))) {
    const overwrite = 'Overwrite';
    const answer = await vscode.window.showWarningMessage(`${path.posix.basename(target.path)} already exists. Overwrite it?`, { modal: true }, overwrite);
    if (answer !== overwrite) return undefined;
  }
  await writeAtomic(target, result.text);
  ctx.log.info(`imported ${source.fsPath} (${arch}) → ${target.fsPath}`);
  for (const key of result.unmapped) ctx.log.warn(`  not mapped: ${key}${result.notes[key] ? ` — ${result.notes[key]}` : ''}`);
  for (const key of result.assumed) ctx.log.info(`  assumed: ${key}${result.notes[key] ? ` — ${result.notes[key]}` : ''}`);

  if (!options.noOpen) await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(target), { preview: false });

  const name = path.posix.basename(target.path);
  if (result.unmapped.length > 0) {
    const shown = result.unmapped.slice(0, 8).join(', ') + (result.unmapped.length > 8 ? `, … (${result.unmapped.length - 8} more)` : '');
    const details = 'Show Details';
    void vscode.window
      .showInformationMessage(`Spike Studio: wrote ${name}. ${result.unmapped.length} key${result.unmapped.length === 1 ? '' : 's'} had no equivalent: ${shown}.`, details)
      .then((choice) => {
        if (choice === details) ctx.log.show(true);
      });
  } else {
    void vscode.window.showInformationMessage(`Spike Studio: wrote ${name}; every key was mapped.`);
  }
  return target;
}
