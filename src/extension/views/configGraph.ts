// The graph message of a *.spike.yaml as the panels show it: the open editor's text (else the file on disk) and
// what the runtime measured of its model, handed to the pure core/arch/configGraph.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { graphOfConfig, type GraphMessage } from '../../core/arch/configGraph';
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
