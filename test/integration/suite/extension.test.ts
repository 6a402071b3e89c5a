// Runs inside a real VS Code (code-server 4.100.3) extension host, with the extension under development loaded
// from the repository. The workspace is a fresh temp copy made by test/integration/run.mjs holding
// examples/mnist-spikformer.spike.yaml and smoke.spike.yaml (1 epoch, ~30 steps, a step event every 2 steps).
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { listRuns, readEvents, tail, waitFor, type RunEvent } from './helpers';

const EXTENSION_ID = 'spike-studio.spike-studio';
const COMMANDS = ['spikeStudio.train', 'spikeStudio.stop', 'spikeStudio.openDashboard', 'spikeStudio.refreshRuns'];
const SOURCE = 'spike-studio';

// Two mistakes at known lines: a wrong type (line 4, 0-based 3) and an unknown key (line 6, 0-based 5).
const BROKEN_CONFIG = [
  'extends: spikformer-tiny/mnist', //  0
  'name: broken', //                    1
  'model:', //                          2
  '  embed_dim: wide', //               3  wrong type: a string where an integer belongs
  'train:', //                          4
  '  epochz: 3', //                     5  unknown key
  '',
].join('\n');

function workspaceDir(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'a workspace folder is open');
  return folder.uri.fsPath;
}

suite('Spike Studio extension', () => {
  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    // Errors surface in the 'activates' test; here they would hide every test behind one hook failure.
    if (ext && !ext.isActive) await Promise.resolve(ext.activate()).catch(() => undefined);
  });

  test('activates', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} is loaded`);
    await ext.activate();
    assert.strictEqual(ext.isActive, true);
  });

  test('registers its commands', async () => {
    const all = new Set(await vscode.commands.getCommands(true));
    const missing = COMMANDS.filter((c) => !all.has(c));
    assert.deepStrictEqual(missing, [], `missing commands: ${missing.join(', ')}`);
  });

  test('reports a malformed config as diagnostics at the right lines, naming the keys', async () => {
    const file = path.join(workspaceDir(), 'broken.spike.yaml');
    fs.writeFileSync(file, BROKEN_CONFIG);
    const uri = vscode.Uri.file(file);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc);
    const diagnostics = await waitFor('spike-studio diagnostics on broken.spike.yaml', 20_000, () => {
      const d = vscode.languages.getDiagnostics(uri).filter((x) => x.source === SOURCE);
      return d.length >= 2 ? d : undefined;
    });
    const describe = (): string =>
      diagnostics.map((d) => `${d.range.start.line}:${d.range.start.character} ${d.message}`).join('\n');

    const wrongType = diagnostics.find((d) => d.message.includes('embed_dim'));
    assert.ok(wrongType, `a diagnostic names embed_dim:\n${describe()}`);
    assert.strictEqual(wrongType.range.start.line, 3, `embed_dim diagnostic on line 4:\n${describe()}`);
    assert.strictEqual(wrongType.severity, vscode.DiagnosticSeverity.Error);

    const unknown = diagnostics.find((d) => d.message.includes('epochz'));
    assert.ok(unknown, `a diagnostic names epochz:\n${describe()}`);
    assert.strictEqual(unknown.range.start.line, 5, `epochz diagnostic on line 6:\n${describe()}`);

    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  test('Train streams step events into a new run; Stop ends it', async function () {
    this.timeout(240_000);
    const ws = workspaceDir();
    const smoke = vscode.Uri.file(path.join(ws, 'smoke.spike.yaml'));
    const runsDir = path.join(ws, '.spike-studio', 'runs');
    const before = new Set(listRuns(runsDir));

    // The config visible in column one, a webview beside it holding focus: no active text editor, several configs in
    // the workspace, and Train (no argument, as from the palette) must still take the visible config, not ask.
    await vscode.window.showTextDocument(smoke, { viewColumn: vscode.ViewColumn.One });
    const focusThief = vscode.window.createWebviewPanel('spikeStudioTestFocus', 'focus', { viewColumn: vscode.ViewColumn.Two, preserveFocus: false });
    await waitFor('the webview to take focus from the editor', 10_000, () => vscode.window.activeTextEditor === undefined);
    const configs = await vscode.workspace.findFiles('**/*.spike.yaml', '**/.spike-studio/**');
    assert.ok(configs.length > 1, `the workspace holds several configs (${configs.length})`);

    // Do not await: the command may resolve at once or only when the run ends. Surface a rejection, though.
    let trainError: unknown;
    void Promise.resolve(vscode.commands.executeCommand('spikeStudio.train')).then(undefined, (e) => {
      trainError = e;
    });
    const check = (): void => {
      if (trainError) throw new Error(`spikeStudio.train failed: ${String(trainError)}`);
    };

    const runId = await waitFor('a new run directory under .spike-studio/runs', 60_000, () =>
      listRuns(runsDir).find((d) => !before.has(d)), check);
    focusThief.dispose();
    assert.ok(runId.endsWith('-smoke'), `Train took the visible smoke.spike.yaml, not another config (run ${runId})`);
    const runDir = path.join(runsDir, runId);
    const diagnose = (): string =>
      `run ${runId}; events: ${readEvents(runDir).map((e) => e.type).join(',')}\nstderr.log:\n${tail(path.join(runDir, 'stderr.log'))}`;

    try {
      await waitFor('2 step events in events.jsonl', 150_000, () => {
        const events = readEvents(runDir);
        if (events.some((e) => e.type === 'done' && e.status === 'failed')) throw new Error('run failed');
        return events.filter((e) => e.type === 'step').length >= 2;
      }, check);
    } catch (e) {
      throw new Error(`${String(e)}\n${diagnose()}`);
    }

    await vscode.commands.executeCommand('spikeStudio.stop');
    let done: RunEvent;
    try {
      done = await waitFor('a done event', 90_000, () => readEvents(runDir).find((e) => e.type === 'done'));
    } catch (e) {
      throw new Error(`${String(e)}\n${diagnose()}`);
    }
    assert.ok(done.status === 'stopped' || done.status === 'completed', `done.status = ${done.status}\n${diagnose()}`);
  });
});
