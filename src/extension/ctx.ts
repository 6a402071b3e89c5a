// The composition root: owns the output channels, the status bar, the run registry, the providers and
// every disposable. Commands receive the Ctx (see commands.ts).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DoctorReport } from '../core/runtime';
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
  private _doctorReport: DoctorReport | undefined;
  private readonly _onDidChangeDoctorReport = this._register(new vscode.EventEmitter<DoctorReport>());
  /** a new doctor report (Train's check, the startup check, Set Up Python Environment) */
  readonly onDidChangeDoctorReport = this._onDidChangeDoctorReport.event;

  constructor(readonly extension: vscode.ExtensionContext) {
    super();
    this.log = this._register(vscode.window.createOutputChannel('Spike Studio', { log: true }));
    this.runtimeLog = this._register(vscode.window.createOutputChannel('Spike Studio: Runtime', { log: true }));
    this.runs = this._register(new RunRegistry(this.log));
    this.statusBar = this._register(new TrainStatusBar(this.runs));
    this.diagnostics = this._register(new ConfigDiagnostics(this.log, () => ({ gpuMemoryMb: this.gpuMemoryMb() })));
  }

  get extensionUri(): vscode.Uri {
    return this.extension.extensionUri;
  }

  /** The folder holding the Python package `spikestudio` (prepended to PYTHONPATH). */
  get runtimeRoot(): string {
    return path.join(this.extension.extensionPath, 'runtime');
  }

  /** The last `doctor` report of this session (set by the Train flow), if any. */
  get doctorReport(): DoctorReport | undefined {
    return this._doctorReport;
  }

  /** Remembers a doctor report; open configs are validated again (the GPU memory rule depends on it). */
  setDoctorReport(report: DoctorReport): void {
    const before = this.gpuMemoryMb();
    this._doctorReport = report;
    if (this.gpuMemoryMb() !== before) this.diagnostics.revalidateAll();
    this._onDidChangeDoctorReport.fire(report);
  }

  /** Memory of the GPU that trains (the last doctor report's `cuda:N`, else its first GPU), MB; null if unknown. */
  gpuMemoryMb(): number | null {
    const report = this._doctorReport;
    if (!report?.cuda || report.gpus.length === 0) return null;
    const index = /^cuda:(\d+)$/.exec(report.device ?? '')?.[1];
    const gpu = report.gpus[index !== undefined ? Number(index) : 0] ?? report.gpus[0];
    return typeof gpu?.memory_mb === 'number' && gpu.memory_mb > 0 ? gpu.memory_mb : null;
  }

  /** Registers a disposable with the extension's lifetime. */
  own<T extends vscode.Disposable>(value: T): T {
    return this._register(value);
  }
}
