// Live validation of *.spike.yaml and *.sweep.yaml files: a DiagnosticCollection (source "spike-studio") updated
// when a config or sweep is opened or edited (debounced; open sweeps again when a config is saved: they vary it),
// and the "▶ Train" CodeLens.
import * as vscode from 'vscode';
import { documentDiagnostics, isSweepFile } from '../core/cluster/sweep';
import type { ConfigDiagnostic, LoadConfigOptions } from '../core/config';
import { isSpikeConfig, isValidatedDocument, SPIKE_CONFIG_SELECTOR } from './config';
import { Disposable } from './dispose';

export const DIAGNOSTIC_SOURCE = 'spike-studio';
const DEBOUNCE_MS = 300;

export function toVscodeDiagnostic(d: ConfigDiagnostic): vscode.Diagnostic {
  const range = new vscode.Range(d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character);
  const severity =
    d.severity === 'error' ? vscode.DiagnosticSeverity.Error : d.severity === 'warning' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Information;
  const diagnostic = new vscode.Diagnostic(range, d.message, severity);
  diagnostic.source = DIAGNOSTIC_SOURCE;
  if (d.code) diagnostic.code = d.code;
  return diagnostic;
}

export class ConfigDiagnostics extends Disposable {
  readonly collection: vscode.DiagnosticCollection;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** the core's diagnostics (with their fixes) of each validated document, by uri, for the quick fixes */
  private readonly latest = new Map<string, { version: number; diagnostics: ConfigDiagnostic[] }>();

  /** `options` is asked at each validation (e.g. the GPU memory of the last doctor report). */
  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly options: () => LoadConfigOptions = () => ({}),
  ) {
    super();
    this.collection = this._register(vscode.languages.createDiagnosticCollection(DIAGNOSTIC_SOURCE));
    this._register(vscode.workspace.onDidOpenTextDocument((doc) => this.validate(doc)));
    this._register(vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document)));
    this._register(
      vscode.workspace.onDidSaveTextDocument((doc) => {
        if (!isSpikeConfig(doc)) return;
        for (const open of vscode.workspace.textDocuments) if (isSweepFile(open.uri.path)) this.validate(open);
      }),
    );
    this._register(
      vscode.workspace.onDidCloseTextDocument((doc) => {
        this.cancel(doc);
        this.collection.delete(doc.uri);
        this.latest.delete(doc.uri.toString());
      }),
    );
    this._register({ dispose: () => this.timers.forEach((t) => clearTimeout(t)) });
    for (const doc of vscode.workspace.textDocuments) this.validate(doc);
  }

  /** Validates now; returns the core's diagnostics (empty for files that are not configs). */
  validate(doc: vscode.TextDocument): ConfigDiagnostic[] {
    if (!isValidatedDocument(doc)) return [];
    this.cancel(doc);
    try {
      const diagnostics = documentDiagnostics(doc.getText(), doc.uri.scheme === 'untitled' ? null : doc.uri.fsPath, this.options());
      this.collection.set(doc.uri, diagnostics.map(toVscodeDiagnostic));
      this.latest.set(doc.uri.toString(), { version: doc.version, diagnostics });
      return diagnostics;
    } catch (error) {
      this.log.error(`validating ${doc.uri.fsPath}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      return [];
    }
  }

  /** The core's diagnostics of the document's current text: the last result, or a validation now when stale. */
  current(doc: vscode.TextDocument): ConfigDiagnostic[] {
    const last = this.latest.get(doc.uri.toString());
    return last && last.version === doc.version ? last.diagnostics : this.validate(doc);
  }

  /** Validates every open config again (after something that the options depend on changed). */
  revalidateAll(): void {
    for (const doc of vscode.workspace.textDocuments) this.validate(doc);
  }

  private schedule(doc: vscode.TextDocument): void {
    if (!isValidatedDocument(doc)) return;
    this.cancel(doc);
    this.timers.set(
      doc.uri.toString(),
      setTimeout(() => {
        this.timers.delete(doc.uri.toString());
        this.validate(doc);
      }, DEBOUNCE_MS),
    );
  }

  private cancel(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    const timer = this.timers.get(key);
    if (timer) clearTimeout(timer);
    this.timers.delete(key);
  }
}

/** "▶ Train" at the top of every *.spike.yaml ("■ Stop" beside it while that file's run trains). */
export class TrainCodeLensProvider extends Disposable implements vscode.CodeLensProvider {
  private readonly _onDidChange = this._register(new vscode.EventEmitter<void>());
  readonly onDidChangeCodeLenses = this._onDidChange.event;

  constructor(private readonly activeRunFor: (file: string) => string | undefined, onRunsChanged: vscode.Event<void>) {
    super();
    this._register(onRunsChanged(() => this._onDidChange.fire()));
  }

  static register(provider: TrainCodeLensProvider): vscode.Disposable {
    return vscode.languages.registerCodeLensProvider(SPIKE_CONFIG_SELECTOR, provider);
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!isSpikeConfig(doc)) return [];
    const top = new vscode.Range(0, 0, 0, 0);
    const lenses = [new vscode.CodeLens(top, { title: '▶ Train', tooltip: 'Spike Studio: train this config', command: 'spikeStudio.train', arguments: [doc.uri] })];
    const running = this.activeRunFor(doc.uri.fsPath);
    if (running) {
      lenses.push(new vscode.CodeLens(top, { title: '■ Stop', tooltip: 'Stop this training run', command: 'spikeStudio.stop', arguments: [running] }));
      lenses.push(new vscode.CodeLens(top, { title: 'Dashboard', tooltip: 'Open the run dashboard', command: 'spikeStudio.openDashboard', arguments: [running] }));
    }
    return lenses;
  }
}
