// In-host half of test/slurm/runs-view.test.ts: inside code-server, Train on Cluster… submits the workspace's
// slurm-tiny.spike.yaml to the single-node Slurm that the outer test started (SLURM_CONF in this process's
// environment), and the Runs view's items must follow the job: PENDING (held) → RUNNING on the node → COMPLETED,
// with the job id and the stdout/stderr links. A job Slurm refuses leaves no run folder and shows Slurm's message.
// Runs only when SPIKE_IT_SLURM ({"node", "partition"}) is set; the outer test selects it with SPIKE_IT_GREP=Slurm.
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { SpikeStudioApi } from '../../../src/extension/main';
import { listRuns, sleep } from './helpers';

const EXTENSION_ID = 'spike-studio.spike-studio';
const CONFIG = 'slurm-tiny.spike.yaml';

interface ShownItem {
  description: string;
  tooltip: string;
  status: string;
  contextValue: string;
}

/** Polls an async probe until it returns a value (not undefined/false), or fails naming `what` and the last item. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined | false>, last: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}; the Runs view shows: ${last()}`);
    await sleep(250);
  }
}

suite('Slurm: the Runs view follows a job', function () {
  let api: SpikeStudioApi;
  let ws: string;
  let cluster: { node: string; partition: string };
  const runsDir = () => path.join(ws, '.spike-studio', 'runs');
  const setClusters = (value: unknown) => vscode.workspace.getConfiguration('spikeStudio').update('clusters', value, vscode.ConfigurationTarget.Workspace);

  suiteSetup(async function () {
    if (!process.env.SPIKE_IT_SLURM) return this.skip();
    cluster = JSON.parse(process.env.SPIKE_IT_SLURM) as { node: string; partition: string };
    const ext = vscode.extensions.getExtension<SpikeStudioApi>(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} is loaded`);
    api = await ext.activate();
    ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
    assert.ok(fs.existsSync(path.join(ws, CONFIG)), `${CONFIG} in the workspace`);
  });

  /** The Runs view's item of a run, as VS Code would render it (description, tooltip markdown, icon, context). */
  function shown(runId: string): ShownItem | undefined {
    const run = api.runsTree.getChildren().find((r) => r.id === runId);
    if (!run) return undefined;
    const item = api.runsTree.getTreeItem(run);
    const tooltip = item.tooltip instanceof vscode.MarkdownString ? item.tooltip.value : String(item.tooltip ?? '');
    return { description: String(item.description ?? ''), tooltip, status: run.status, contextValue: item.contextValue ?? '' };
  }

  test('Train on Cluster…: PENDING (held, with the reason) → RUNNING on the node → COMPLETED, job id and stdout/stderr links', async function () {
    this.timeout(540_000);
    // the job waits in its set-up lines (a profile's `module load …` place) until the test opens this gate, so
    // RUNNING lasts until the view has shown it, whatever this machine's speed
    const gate = path.join(ws, 'gate');
    await setClusters({ test: { partition: cluster.partition, cpus: 1, time: '10', grace: 30, setup: [`until [ -e '${gate}' ]; do sleep 0.2; done`] } });
    const uri = vscode.Uri.file(path.join(ws, CONFIG));
    const runId = await vscode.commands.executeCommand<string | undefined>('spikeStudio.trainOnCluster', uri, { submitWithoutAsking: true, sbatchArgs: ['--hold'] });
    assert.ok(runId, 'Train on Cluster… returned the new run id');
    let last: ShownItem | undefined;
    const describe = () => JSON.stringify(last ?? null);
    const look = async (test: (item: ShownItem) => boolean): Promise<ShownItem | undefined> => {
      await api.slurmWatcher.tick(); // what the 5-s poll does, now
      last = shown(runId);
      return last && test(last) ? last : undefined;
    };

    const pending = await until('PENDING with Slurm’s hold reason', 60_000, () => look((i) => /PENDING \(JobHeld\w*\) · job \d+/.test(i.description)), describe);
    const jobId = /job (\d+)/.exec(pending.description)![1];
    assert.strictEqual(pending.status, 'running', 'a queued job counts as running');
    assert.match(pending.contextValue, /^spikeStudio\.run\.running\.slurm$/);
    const stdout = path.join(runsDir(), runId, 'slurm', `slurm-${jobId}.out`);
    const stderr = path.join(runsDir(), runId, 'slurm', `slurm-${jobId}.err`);
    assert.ok(pending.tooltip.includes(`[stdout](${vscode.Uri.file(stdout).toString()})`), `stdout link in the tooltip:\n${pending.tooltip}`);
    assert.ok(pending.tooltip.includes(`[stderr](${vscode.Uri.file(stderr).toString()})`), `stderr link in the tooltip:\n${pending.tooltip}`);

    execFileSync('scontrol', ['release', jobId], { env: process.env, timeout: 30_000 });
    const running = await until(`RUNNING on ${cluster.node}`, 120_000, () => look((i) => i.description.startsWith(`RUNNING on ${cluster.node} · job ${jobId}`)), describe);
    assert.strictEqual(running.status, 'running');

    fs.writeFileSync(gate, '');
    const completed = await until('COMPLETED', 300_000, () => look((i) => i.status === 'completed' && new RegExp(`COMPLETED · job ${jobId}$`).test(i.description)), describe);
    assert.match(completed.contextValue, /^spikeStudio\.run\.completed\.slurm$/);
    assert.ok(fs.existsSync(stdout) && fs.existsSync(stderr), 'the job wrote its stdout and stderr files');
    // the stderr link opens the job's file
    await vscode.commands.executeCommand('spikeStudio.openSlurmLog', runId, 'stderr');
    assert.strictEqual(vscode.window.activeTextEditor?.document.uri.fsPath, stderr);
    assert.match(vscode.window.activeTextEditor.document.getText(), new RegExp(`spike-studio: job ${jobId} `));
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  test('a job Slurm refuses (unknown partition) leaves no run folder and shows Slurm’s own message', async function () {
    this.timeout(120_000);
    await setClusters({ wrong: { partition: 'no-such-partition', cpus: 1, time: '5' } });
    const before = listRuns(runsDir());
    const shownErrors: string[] = [];
    const original = vscode.window.showErrorMessage;
    (vscode.window as { showErrorMessage: unknown }).showErrorMessage = (message: string, ...rest: unknown[]) => {
      shownErrors.push(message);
      return (original as (...a: unknown[]) => Thenable<unknown>)(message, ...rest);
    };
    try {
      const runId = await vscode.commands.executeCommand<string | undefined>('spikeStudio.trainOnCluster', vscode.Uri.file(path.join(ws, CONFIG)), { submitWithoutAsking: true });
      assert.strictEqual(runId, undefined, 'no run was started');
    } finally {
      (vscode.window as { showErrorMessage: unknown }).showErrorMessage = original;
    }
    assert.strictEqual(shownErrors.length, 1, `one error shown: ${JSON.stringify(shownErrors)}`);
    // sbatch's own words (22.05: "Batch job submission failed: Invalid partition name specified")
    assert.match(shownErrors[0], /Slurm refused the job: .*invalid partition/i);
    assert.deepStrictEqual(listRuns(runsDir()), before, 'no run folder left behind');
  });
});
