// *.sweep.yaml files validated live in the editor like every config: a sweep key that does not exist gets a
// diagnostic on its line with a did-you-mean and a quick fix; typing a limit the sweep exceeds is reported as typed.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { waitFor } from './helpers';

const SOURCE = 'spike-studio';

suite('Sweep files validated live', () => {
  test('an unknown sweep key: diagnostic with did-you-mean on its line, quick fix renames it; over the limit as you type', async function () {
    this.timeout(60_000);
    const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    assert.ok(ws, 'a workspace folder is open');
    const dir = path.join(ws, 'sweep-live');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'exp.spike.yaml'), 'extends: spikformer-tiny/mnist\nname: exp\n');
    const file = path.join(dir, 'exp.sweep.yaml');
    fs.writeFileSync(file, 'sweep:\n  grid:\n    model.depth: [1, 2]\n    train.lrr: [0.001, 0.003]\n');
    const uri = vscode.Uri.file(file);
    const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    const ours = () => vscode.languages.getDiagnostics(uri).filter((d) => d.source === SOURCE);
    const shown = () => ours().map((d) => `${d.range.start.line}: ${d.message}`).join('\n') || '(none)';

    const [typo] = await waitFor('a diagnostic on train.lrr', 20_000, () => (ours().length ? ours() : undefined));
    assert.strictEqual(ours().length, 1, shown());
    assert.strictEqual(typo.range.start.line, 3, shown());
    assert.match(typo.message, /"train\.lrr" is not a config key.*Did you mean "train\.lr"\?/);

    const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uri, typo.range, vscode.CodeActionKind.QuickFix.value);
    const rename = actions.find((a) => a.title === 'Rename to train.lr');
    assert.ok(rename?.edit, `a "Rename to train.lr" quick fix: ${JSON.stringify(actions.map((a) => a.title))}`);
    assert.ok(await vscode.workspace.applyEdit(rename.edit));
    assert.strictEqual(editor.document.lineAt(3).text, '    train.lr: [0.001, 0.003]');
    await waitFor('no diagnostics after the fix', 20_000, () => ours().length === 0).catch((e: Error) => assert.fail(`${e.message}: ${shown()}`));

    // typed, not saved: a limit below the 4 runs the grid expands to
    await editor.edit((b) => b.insert(new vscode.Position(1, 0), '  limit: 3\n'));
    const [tooMany] = await waitFor('the over-the-limit diagnostic', 20_000, () => (ours().length ? ours() : undefined));
    assert.match(tooMany.message, /expands to 4 runs, more than its limit of 3/, shown());
    assert.strictEqual(tooMany.range.start.line, 0);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });
});
