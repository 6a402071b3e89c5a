// Security settings and guards: machine-overridable interpreter, Restricted Mode, webview resource roots.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { trainingBlockedReason, UNTRUSTED_TRAIN_MESSAGE } from '../../src/core/runtime';
import { REPO_ROOT } from './helpers';

const PKG = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));

function sourcesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourcesUnder(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('security', () => {
  it('spikeStudio.pythonPath (and runsDirectory) are machine-overridable, and pythonPath is a restricted setting', () => {
    const props = PKG.contributes.configuration.properties;
    assert.equal(props['spikeStudio.pythonPath'].scope, 'machine-overridable');
    assert.equal(props['spikeStudio.runsDirectory'].scope, 'machine-overridable');
    const untrusted = PKG.capabilities.untrustedWorkspaces;
    assert.equal(untrusted.supported, 'limited');
    assert.ok(untrusted.restrictedConfigurations.includes('spikeStudio.pythonPath'));
    // a workspace must not point the runs folder (listed, and deletable with Delete Run) somewhere else
    assert.ok(untrusted.restrictedConfigurations.includes('spikeStudio.runsDirectory'));
  });

  it('training is refused in an untrusted workspace, with a message that says how to enable it', () => {
    assert.equal(trainingBlockedReason({ isTrusted: true }), undefined);
    assert.equal(trainingBlockedReason({ isTrusted: false }), UNTRUSTED_TRAIN_MESSAGE);
    assert.match(UNTRUSTED_TRAIN_MESSAGE, /Restricted Mode.*Trust the workspace/);
    // train and resume both go through the guard
    const train = fs.readFileSync(path.join(REPO_ROOT, 'src', 'extension', 'train.ts'), 'utf8');
    assert.match(train, /trainingBlockedReason\(vscode\.workspace\)/);
    assert.equal((train.match(/if \(await refuseUntrusted\(\)\) return;/g) ?? []).length, 2);
  });

  it('webviews load local resources only from the extension\'s dist/ and media/', () => {
    const files = sourcesUnder(path.join(REPO_ROOT, 'src', 'extension'));
    const roots = files.flatMap((f) => [...fs.readFileSync(f, 'utf8').matchAll(/localResourceRoots\s*:\s*\[([^\]]*)\]/g)].map((m) => [path.basename(f), m[1]] as const));
    assert.deepEqual(roots, [['html.ts', "vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')"]]);
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      const panels = (text.match(/createWebviewPanel\(/g) ?? []).length;
      const withOptions = (text.match(/\.\.\.webviewOptions\(ctx\.extensionUri\)/g) ?? []).length;
      assert.ok(withOptions >= panels, `${path.basename(f)}: every webview panel uses webviewOptions()`);
    }
  });

  it('resume and delete commands are contributed and Resume appears only on resumable run items', () => {
    const ids = PKG.contributes.commands.map((c: { command: string }) => c.command);
    for (const id of ['spikeStudio.resumeRun', 'spikeStudio.deleteRun']) assert.ok(ids.includes(id), id);
    const item = PKG.contributes.menus['view/item/context'] as { command: string; when: string }[];
    const resume = item.filter((m) => m.command === 'spikeStudio.resumeRun');
    assert.ok(resume.length > 0 && resume.every((m) => m.when.includes('.resumable') && m.when.includes('isWorkspaceTrusted')));
    assert.ok(item.filter((m) => m.command === 'spikeStudio.deleteRun').every((m) => !/running/.test(m.when)));
  });
});
