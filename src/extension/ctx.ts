// The composition root: owns the output channels, the status bar, the run registry, the providers and
// every disposable. Commands receive the Ctx (see commands.ts).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Disposable } from './dispose';
import { ConfigDiagnostics } from './diagnostics';
import { RunRegistry } from './runs';
import { TrainStatusBar } from './statusBar';

export class Ctx extends Disposable {
  /** the extension's own log (Output ▸ Spike Studio) */
  readonly log: vscode.LogOutputChannel;
  /** the training runtime's stderr (Output ▸ Spike Studio: Runtime) */
  readonly runtimeLog: vscode.LogOutputChannel;
  readonly runs: RunRegistry;
  readonly statusBar: TrainStatusBar;
  readonly diagnostics: ConfigDiagnostics;

  constructor(readonly extension: vscode.ExtensionContext) {
    super();
    this.log = this._register(vscode.window.createOutputChannel('Spike Studio', { log: true }));
    this.runtimeLog = this._register(vscode.window.createOutputChannel('Spike Studio: Runtime', { log: true }));
    this.runs = this._register(new RunRegistry());
    this.statusBar = this._register(new TrainStatusBar(this.runs));
    this.diagnostics = this._register(new ConfigDiagnostics(this.log));
  }

  get extensionUri(): vscode.Uri {
    return this.extension.extensionUri;
  }

  /** The folder holding the Python package `spikestudio` (prepended to PYTHONPATH). */
  get runtimeRoot(): string {
    return path.join(this.extension.extensionPath, 'runtime');
  }

  /** Registers a disposable with the extension's lifetime. */
  own<T extends vscode.Disposable>(value: T): T {
    return this._register(value);
  }
}
