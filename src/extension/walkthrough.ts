// The "Get started with Spike Studio" walkthrough's steps complete from what happened (package.json
// contributes.walkthroughs, completionEvents onContext:<key>): these context keys are set from real outcomes.
//   spikeStudio.configOpened  a *.spike.yaml is open in an editor
//   spikeStudio.pythonReady   a usable interpreter is known (setupPython.ts)
//   spikeStudio.firstStep     a run of this window reported its first training step
//   spikeStudio.panelOpened   the graph, firing, attention or energy panel is open
//   spikeStudio.configCreated New Config… wrote a file (configs.ts)
import * as vscode from 'vscode';
import { isSpikeConfig } from './config';
import type { Ctx } from './ctx';

const PANEL_VIEW_TYPES = /spikeStudio\.(graph|firing|attention|energy)$/;

export function registerWalkthroughKeys(ctx: Ctx): void {
  const done = new Set<string>();
  const set = (key: string) => {
    if (done.has(key)) return;
    done.add(key);
    void vscode.commands.executeCommand('setContext', key, true);
  };
  const editors = () => {
    if (vscode.window.visibleTextEditors.some((e) => isSpikeConfig(e.document))) set('spikeStudio.configOpened');
  };
  const tabs = () => {
    for (const group of vscode.window.tabGroups.all) {
      for (const tab of group.tabs) {
        if (tab.input instanceof vscode.TabInputWebview && PANEL_VIEW_TYPES.test(tab.input.viewType)) set('spikeStudio.panelOpened');
      }
    }
  };
  editors();
  tabs();
  ctx.own(vscode.window.onDidChangeVisibleTextEditors(editors));
  ctx.own(vscode.window.tabGroups.onDidChangeTabs(tabs));
  ctx.own(ctx.runs.onDidProgress((run) => run.progress.step > 0 && set('spikeStudio.firstStep')));
}
