// The shown config of the graph views: its graph message (the open editor's text, else the file on disk, and what
// the runtime measured of its model, handed to the pure core/arch/configGraph), and a key of it revealed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { graphOfConfig, type GraphMessage } from '../../core/arch/configGraph';
import { loadConfig } from '../../core/config';
import { customGraphOf, measuredGraphOf } from '../customModel';

function configText(file: string): string | undefined {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && path.resolve(d.uri.fsPath) === path.resolve(file));
  if (open) return open.getText();
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The graph message for a config file (your own model: the graph the runtime described by running it). */
export function configGraph(file: string): GraphMessage {
  const custom = customGraphOf(file);
  return graphOfConfig(file, custom ? undefined : configText(file), { custom, measured: measuredGraphOf(file) });
}

/** Opens `file` and selects the key `dotted` (or its nearest written ancestor, else `extends`, else line 1). */
export async function revealConfigKey(file: string, dotted: string): Promise<void> {
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  const { ranges } = loadConfig(doc.getText(), file, { checkPaths: false });
  const parts = dotted.split('.').filter(Boolean);
  let found = undefined as (typeof ranges extends Map<string, infer V> ? V : never) | undefined;
  while (parts.length && !found) {
    found = ranges.get(parts.join('.'));
    if (!found) parts.pop();
  }
  found ??= ranges.get('extends');
  const r = found?.key ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  const range = new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
  // preserveFocus: keyboard navigation in the graph goes on; the editor shows the selected key
  await vscode.window.showTextDocument(doc, { selection: range, viewColumn: vscode.ViewColumn.One, preserveFocus: true, preview: false });
}
