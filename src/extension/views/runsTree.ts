// The Runs view: every run of the workspace, newest first, with its status as a ThemeIcon.
import * as vscode from 'vscode';
import type { RunStatus } from '../../core/protocol';
import { describeJob, isActiveState, jobLogPath } from '../../core/cluster/slurm';
import { isResumable, type RunInfo } from '../../core/runs';
import { Disposable } from '../dispose';
import type { RunRegistry } from '../runs';
import { pct } from '../statusBar';

export const RUNS_VIEW_ID = 'spikeStudio.runs';

const ICONS: Record<RunStatus, vscode.ThemeIcon> = {
  running: new vscode.ThemeIcon('sync~spin'),
  completed: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  stopped: new vscode.ThemeIcon('debug-stop'),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
};

function duration(s: number | null): string | undefined {
  if (s === null || !Number.isFinite(s)) return undefined;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export class RunsTreeProvider extends Disposable implements vscode.TreeDataProvider<RunInfo> {
  private readonly _onDidChangeTreeData = this._register(new vscode.EventEmitter<void>());
  readonly onDidChangeTreeData = this._onDidChangeTreeData.event;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly runs: RunRegistry) {
    super();
    this._register(runs.onDidChangeRuns(() => this.refreshSoon(100)));
    this._register({ dispose: () => this.timer && clearTimeout(this.timer) });
  }

  refresh(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this._onDidChangeTreeData.fire();
  }

  /** Coalesces bursts (events.jsonl changes many times a second while a run trains). */
  refreshSoon(ms = 1000): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this._onDidChangeTreeData.fire();
    }, ms);
  }

  getChildren(element?: RunInfo): RunInfo[] {
    if (element) return [];
    const runs = this.runs.list();
    void vscode.commands.executeCommand('setContext', 'spikeStudio.hasRuns', runs.length > 0);
    return runs;
  }

  getTreeItem(run: RunInfo): vscode.TreeItem {
    const item = new vscode.TreeItem(run.name, vscode.TreeItemCollapsibleState.None);
    item.id = run.dir;
    item.iconPath = ICONS[run.status] ?? new vscode.ThemeIcon('circle-outline');
    const active = this.runs.activeRun(run.id);
    if (run.status === 'running' && active?.progress.epochs) {
      item.description = `epoch ${active.progress.epoch}/${active.progress.epochs}${active.progress.bestTop1 !== null ? ` · best ${pct(active.progress.bestTop1)}` : ''}`;
    } else if (run.bestTop1 !== null) {
      item.description = `best ${pct(run.bestTop1)}`;
    } else {
      item.description = run.status;
    }
    if (run.slurm) {
      // PENDING (reason) / RUNNING on nodes / COMPLETED, FAILED, TIMEOUT, PREEMPTED, CANCELLED · job id
      const job = describeJob(run.slurm);
      item.description = isActiveState(run.slurm.state) || !run.slurm.state ? `${job}${item.description !== run.status ? ` · ${item.description}` : ''}` : `${item.description} · ${job}`;
    }
    const tip = new vscode.MarkdownString(undefined, true);
    tip.appendMarkdown(`**${run.name}** — ${run.status}\n\n`);
    tip.appendMarkdown(`\`${run.id}\`\n\n`);
    if (run.startedAt) tip.appendMarkdown(`started ${new Date(run.startedAt).toLocaleString()}\n\n`);
    const d = duration(run.durationS);
    tip.appendMarkdown(`epochs ${run.epochsCompleted}/${run.epochs ?? '?'}${d ? ` · ${d}` : ''}\n\n`);
    if (run.bestTop1 !== null) tip.appendMarkdown(`best top-1 ${pct(run.bestTop1)}\n\n`);
    if (run.failure) tip.appendMarkdown(`$(error) ${run.failure}${run.error?.hint ? `\n\n${run.error.hint}` : ''}\n\n`);
    else if (run.error) tip.appendMarkdown(`$(error) ${run.error.kind}: ${run.error.message}${run.error.hint ? `\n\n${run.error.hint}` : ''}\n\n`);
    if (run.source) tip.appendMarkdown(`config: ${vscode.workspace.asRelativePath(run.source)}\n\n`);
    if (run.slurm) {
      const link = (kind: 'stdout' | 'stderr') => `[${kind}](${vscode.Uri.file(jobLogPath(run.slurm![kind], run.slurm!.jobId)).toString()})`;
      tip.appendMarkdown(`Slurm: ${describeJob(run.slurm)} (${run.slurm.cluster}) · ${link('stdout')} · ${link('stderr')}\n\n`);
    }
    if (run.sweep) tip.appendMarkdown(`sweep ${run.sweep.sweepId} #${run.sweep.index}\n\n`);
    tip.appendMarkdown(`folder: ${vscode.workspace.asRelativePath(run.dir)}`);
    item.tooltip = tip;
    // spikeStudio.run.<status>[.resumable]: Stop on running runs (ours, or re-attached after a reload: SIGTERM),
    // Resume on failed/stopped runs with a checkpoint, Delete on finished ones
    item.contextValue = run.status === 'running' ? 'spikeStudio.run.running' : `spikeStudio.run.${run.status}${isResumable(run) && !run.slurm ? '.resumable' : ''}`;
    if (run.slurm) item.contextValue += '.slurm';
    item.command = { title: 'Open Dashboard', command: 'spikeStudio.openDashboard', arguments: [run.id] };
    return item;
  }
}
