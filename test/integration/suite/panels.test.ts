// The visualisation panels and the side panel, in a real VS Code: each panel opens from its command as a webview
// tab of its viewType; the side panel (a webview view) resolves when focused and receives the active config's
// graph and its latest run. The run comes from test/fixtures/events/tiny-attention-run.jsonl, copied into the
// workspace's runs folder with a config.resolved.json whose `source` is the example config.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';

const EXTENSION_ID = 'spike-studio.spike-studio';
const RUN_ID = 'it-panels-fixture';

interface PostedMessage {
  type: string;
  source?: string | null;
  runId?: string | null;
  layers?: number;
}
interface Api {
  sidePanel: {
    readonly posted: PostedMessage[];
    readonly shownSource: string | undefined;
    readonly viewState: { resolved: boolean; visible: boolean; ready: boolean };
  };
  runsTree: { getChildren(): { id: string; status: string }[] };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | false, diagnose?: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${diagnose ? `\n${diagnose()}` : ''}`);
    await sleep(200);
  }
}

function webviewTabs(): string[] {
  return vscode.window.tabGroups.all
    .flatMap((g) => g.tabs)
    .map((t) => t.input)
    .filter((i): i is vscode.TabInputWebview => i instanceof vscode.TabInputWebview)
    .map((i) => i.viewType);
}

async function expectTab(viewType: string): Promise<void> {
  await waitFor(`a webview tab of type ${viewType}`, 15_000, () => webviewTabs().some((t) => t.endsWith(viewType)), () => `tabs: ${webviewTabs().join(', ')}`);
}

async function openConfig(file: string): Promise<void> {
  await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(vscode.Uri.file(file)), { preview: false });
}

suite('Spike Studio panels', () => {
  let ws = '';
  let example = '';
  let api: Api;

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension<Api>(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} is loaded`);
    api = await ext.activate();
    assert.ok(api?.sidePanel, 'the extension API exposes the side panel');
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'a workspace folder is open');
    ws = folder.uri.fsPath;
    example = path.join(ws, 'examples', 'mnist-spikformer.spike.yaml');
    assert.ok(fs.existsSync(example), `${example} exists`);
    const runDir = path.join(ws, '.spike-studio', 'runs', RUN_ID);
    fs.mkdirSync(runDir, { recursive: true });
    fs.copyFileSync(path.join(ext.extensionPath, 'test', 'fixtures', 'events', 'tiny-attention-run.jsonl'), path.join(runDir, 'events.jsonl'));
    fs.writeFileSync(path.join(runDir, 'config.resolved.json'), JSON.stringify({ name: 'panels-fixture', source: example }, null, 2));
    await vscode.commands.executeCommand('spikeStudio.refreshRuns');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('the Runs view lists the workspace runs, the fixture run among them', async () => {
    await vscode.commands.executeCommand('spikeStudio.runs.focus');
    const runs = await waitFor('runs in the Runs view', 10_000, () => {
      const children = api.runsTree.getChildren();
      return children.some((r) => r.id === RUN_ID) ? children : undefined;
    }, () => `children: ${JSON.stringify(api.runsTree.getChildren().map((r) => [r.id, r.status]))}`);
    assert.strictEqual(runs.find((r) => r.id === RUN_ID)?.status, 'completed');
  });

  test('Open Dashboard opens a dashboard tab', async () => {
    await vscode.commands.executeCommand('spikeStudio.openDashboard', RUN_ID);
    await expectTab('spikeStudio.dashboard');
  });

  test('Open Architecture Graph opens a graph tab for the active config', async () => {
    await openConfig(example);
    await vscode.commands.executeCommand('spikeStudio.openGraph');
    await expectTab('spikeStudio.graph');
  });

  for (const [command, viewType] of [
    ['spikeStudio.openFiring', 'spikeStudio.firing'],
    ['spikeStudio.openAttention', 'spikeStudio.attention'],
    ['spikeStudio.openEnergy', 'spikeStudio.energy'],
  ] as const) {
    test(`${command} opens a ${viewType} tab for a run`, async () => {
      await vscode.commands.executeCommand(command, RUN_ID);
      await expectTab(viewType);
    });
  }

  test('the side panel shows the active config’s graph and its latest run', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await openConfig(example);
    await vscode.commands.executeCommand('spikeStudio.sidePanel.focus');
    const posted = (): string => `view ${JSON.stringify(api.sidePanel.viewState)}; posted ${JSON.stringify(api.sidePanel.posted.slice(-10))}`;
    const graph = await waitFor('a graph message for the example config', 30_000,
      () => api.sidePanel.posted.find((m) => m.type === 'graph' && m.source === example), posted);
    assert.ok((graph.layers ?? 0) > 0, `the graph has layers: ${posted()}`);
    await waitFor(`an init message with run ${RUN_ID}`, 10_000, () => api.sidePanel.posted.some((m) => m.type === 'init' && m.runId === RUN_ID), posted);

    // it follows the active config
    const smoke = path.join(ws, 'smoke.spike.yaml');
    await openConfig(smoke);
    await waitFor('a graph message for smoke.spike.yaml', 10_000, () => api.sidePanel.posted.some((m) => m.type === 'graph' && m.source === smoke), posted);
    assert.strictEqual(api.sidePanel.shownSource, smoke);
  });
});
