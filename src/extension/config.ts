// Typed access to the spikeStudio.* settings.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isSweepFile } from '../core/cluster/sweep';

export const SECTION = 'spikeStudio';

export const config = {
  /** machine-overridable; ignored in untrusted workspaces (restrictedConfigurations) */
  pythonPath(scope?: vscode.Uri): string {
    return vscode.workspace.getConfiguration(SECTION, scope).get<string>('pythonPath', '').trim();
  },
  /** spikeStudio.pipArgs: extra arguments for every `pip install` of Set Up Python Environment */
  pipArgs(scope?: vscode.Uri): string[] {
    const value = vscode.workspace.getConfiguration(SECTION, scope).get<unknown>('pipArgs', []);
    return Array.isArray(value) ? value.filter((a): a is string => typeof a === 'string' && a.trim() !== '').map((a) => a.trim()) : [];
  },
  /** absolute runs folder for a workspace folder, or undefined for the default <root>/.spike-studio/runs */
  runsDirectory(root: string, scope?: vscode.Uri): string | undefined {
    const value = vscode.workspace.getConfiguration(SECTION, scope).get<string>('runsDirectory', '').trim();
    if (!value) return undefined;
    const expanded = value.startsWith('~/') ? path.join(process.env.HOME ?? '~', value.slice(2)) : value;
    return path.resolve(root, expanded);
  },
  /** spikeStudio.datasetMirror: base URL replacing the dataset publishers' (the runtime's SPIKE_STUDIO_DATASET_MIRROR) */
  datasetMirror(): string {
    return vscode.workspace.getConfiguration(SECTION).get<string>('datasetMirror', '').trim();
  },
};

/** *.spike.yaml / *.spike.yml */
export function isSpikeConfigPath(p: string): boolean {
  return /\.spike\.ya?ml$/i.test(p);
}

function isLocalDocument(doc: vscode.TextDocument): boolean {
  return doc.uri.scheme === 'file' || doc.uri.scheme === 'untitled' || doc.uri.scheme === 'vscode-remote';
}

export function isSpikeConfig(doc: vscode.TextDocument): boolean {
  return isLocalDocument(doc) && isSpikeConfigPath(doc.uri.path);
}

/** A config or a *.sweep.yaml: what is validated live and gets quick fixes. */
export function isValidatedDocument(doc: vscode.TextDocument): boolean {
  return isLocalDocument(doc) && (isSpikeConfigPath(doc.uri.path) || isSweepFile(doc.uri.path));
}

export const SPIKE_CONFIG_SELECTOR: vscode.DocumentSelector = [
  { pattern: '**/*.spike.yaml' },
  { pattern: '**/*.spike.yml' },
];

/** configs and *.sweep.yaml / *.sweep.yml */
export const VALIDATED_SELECTOR: vscode.DocumentSelector = [
  ...SPIKE_CONFIG_SELECTOR,
  { pattern: '**/*.sweep.yaml' },
  { pattern: '**/*.sweep.yml' },
];
