// One status bar item, shown while a run trains: "$(sync~spin) epoch 2/3 · loss 0.41"; click opens its dashboard.
import * as vscode from 'vscode';
import { Disposable } from './dispose';
import type { ActiveRun, RunRegistry } from './runs';

export function formatProgressText(run: ActiveRun): string {
  const p = run.progress;
  if (run.stopRequested && run.status === 'running') return 'stopping…';
  if (!p.epochs) return 'starting…';
  const parts = [`epoch ${p.epoch}/${p.epochs}`];
  if (p.loss !== null) parts.push(`loss ${p.loss.toFixed(2)}`);
  return parts.join(' · ');
}

export function pct(x: number | null): string {
  return x === null ? '–' : `${(x * 100).toFixed(1)} %`;
}

export class TrainStatusBar extends Disposable {
  private readonly item: vscode.StatusBarItem;
  private last = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly runs: RunRegistry) {
    super();
    this.item = this._register(vscode.window.createStatusBarItem('spikeStudio.training', vscode.StatusBarAlignment.Left, 10));
    this.item.name = 'Spike Studio Training';
    this._register(runs.onDidProgress(() => this.schedule()));
    this._register(runs.onDidChangeRuns(() => this.schedule()));
    this._register({ dispose: () => this.timer && clearTimeout(this.timer) });
    this.update();
  }

  /** at most 4 updates a second */
  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, 250 - (Date.now() - this.last));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.update();
    }, wait);
  }

  private update(): void {
    this.last = Date.now();
    const active = this.runs.activeRuns();
    void vscode.commands.executeCommand('setContext', 'spikeStudio.training', active.length > 0);
    const run = active[active.length - 1];
    if (!run) {
      this.item.hide();
      return;
    }
    const more = active.length > 1 ? ` (+${active.length - 1})` : '';
    this.item.text = `$(sync~spin) ${formatProgressText(run)}${more}`;
    const p = run.progress;
    const tip = new vscode.MarkdownString(undefined, true);
    tip.appendMarkdown(`**Spike Studio** — training \`${run.name}\`\n\n`);
    tip.appendMarkdown(`epoch ${p.epoch || '–'}/${p.epochs || '–'} · step ${p.step || '–'}\n\n`);
    tip.appendMarkdown(`loss ${p.loss?.toFixed(4) ?? '–'} · train acc ${pct(p.acc)} · best top-1 ${pct(p.bestTop1)}\n\n`);
    tip.appendMarkdown('Click to open the dashboard.');
    this.item.tooltip = tip;
    this.item.command = { title: 'Open Dashboard', command: 'spikeStudio.openDashboard', arguments: [run.id] };
    this.item.show();
  }
}
