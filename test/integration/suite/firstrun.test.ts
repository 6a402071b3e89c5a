// In-host checks of the first-run commands (the UI-driven first run is phase C of run.mjs, test/integration/firstrun.mjs):
// New Config…'s argument contract, Validate Config and the contributed walkthrough.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';

const EXTENSION_ID = 'spike-studio.spike-studio';

function workspaceDir(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'a workspace folder is open');
  return folder.uri.fsPath;
}

suite('Spike Studio first run', () => {
  suiteSetup(async () => {
    await vscode.extensions.getExtension(EXTENSION_ID)?.activate();
  });

  test('New Config… with { preset, name } writes <workspace>/<name>.spike.yaml extending the preset, opens it and returns its Uri', async () => {
    const file = path.join(workspaceDir(), 'firstrun-c10.spike.yaml');
    fs.rmSync(file, { force: true });
    const uri = await vscode.commands.executeCommand<vscode.Uri>('spikeStudio.newConfig', { preset: 'spikformer-4-384/cifar10', name: 'firstrun-c10' });
    assert.ok(uri, 'the command returns the Uri');
    assert.strictEqual(uri.fsPath, file);
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, /^extends: spikformer-4-384\/cifar10$/m);
    assert.match(text, /^name: firstrun-c10$/m);
    assert.strictEqual(vscode.window.activeTextEditor?.document.uri.fsPath, file, 'the new config is the active editor');
    assert.deepStrictEqual(fs.readdirSync(workspaceDir()).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
    // a second time: refused, the file is not overwritten
    fs.appendFileSync(file, '# mine\n');
    const again = await vscode.commands.executeCommand<vscode.Uri | undefined>('spikeStudio.newConfig', { preset: 'spikformer-4-384/cifar10', name: 'firstrun-c10' });
    assert.strictEqual(again, undefined);
    assert.match(fs.readFileSync(file, 'utf8'), /# mine/);
    // Validate Config on the active editor: the new config has no errors
    const errors = await vscode.commands.executeCommand<number>('spikeStudio.validate');
    assert.strictEqual(errors, 0);
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    fs.rmSync(file, { force: true });
  });

  test('contributes the walkthrough, the setup command and spikeStudio.pipArgs', async () => {
    const pkg = vscode.extensions.getExtension(EXTENSION_ID)?.packageJSON as { contributes: { walkthroughs: { id: string; steps: { completionEvents: string[] }[] }[] } };
    const walkthrough = pkg.contributes.walkthroughs.find((w) => w.id === 'spikeStudio.getStarted');
    assert.ok(walkthrough);
    assert.ok(walkthrough.steps.every((s) => s.completionEvents.every((e) => e.startsWith('onContext:spikeStudio.'))));
    const all = new Set(await vscode.commands.getCommands(true));
    for (const id of ['spikeStudio.setupPython', 'spikeStudio.newConfig', 'spikeStudio.validate', 'spikeStudio.openExample', 'spikeStudio.getStarted']) assert.ok(all.has(id), id);
    assert.deepStrictEqual(vscode.workspace.getConfiguration('spikeStudio').get('pipArgs'), []);
  });
});
