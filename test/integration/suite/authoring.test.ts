// Inline config authoring inside a real VS Code: diagnostics at the exact range, their quick fixes (replace a value,
// rename a key, add a key the preset supplied), hovers, completions, and "Import Reference Config".
// The workspace is the fresh temp copy made by test/integration/run.mjs (examples/mnist-spikformer.spike.yaml).
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';

const EXTENSION_ID = 'spike-studio.spike-studio';
const SOURCE = 'spike-studio';

function workspaceDir(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'a workspace folder is open');
  return folder.uri.fsPath;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | false, describe?: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${describe ? `\n${describe()}` : ''}`);
    await sleep(150);
  }
}

function ours(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === SOURCE);
}

function describeDiagnostics(uri: vscode.Uri): string {
  return ours(uri)
    .map((d) => `  ${d.range.start.line}:${d.range.start.character}-${d.range.end.line}:${d.range.end.character} [${String(d.code)}] ${d.message}`)
    .join('\n') || '  (no spike-studio diagnostics)';
}

/** Writes a config into the workspace and opens it in an editor. */
async function openConfig(name: string, text: string): Promise<vscode.TextDocument> {
  const file = path.join(workspaceDir(), name);
  fs.writeFileSync(file, text);
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  await vscode.window.showTextDocument(doc);
  return doc;
}

/** The code actions at a range (kind QuickFix), polled until one is titled `title`. */
async function quickFix(doc: vscode.TextDocument, range: vscode.Range, title: string): Promise<vscode.CodeAction> {
  let titles: string[] = [];
  const end = Date.now() + 10_000;
  for (;;) {
    const actions = (await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>('vscode.executeCodeActionProvider', doc.uri, range, vscode.CodeActionKind.QuickFix.value)) ?? [];
    const codeActions = actions.filter((a): a is vscode.CodeAction => typeof (a as vscode.Command).command !== 'string');
    titles = actions.map((a) => a.title);
    const match = codeActions.find((a) => a.title === title);
    if (match) return match;
    if (Date.now() > end) throw new Error(`no quick fix "${title}" at ${range.start.line}:${range.start.character}; actions: ${titles.join(' | ') || '(none)'}\n${describeDiagnostics(doc.uri)}`);
    await sleep(200);
  }
}

async function apply(action: vscode.CodeAction): Promise<void> {
  assert.ok(action.edit, `quick fix "${action.title}" carries an edit`);
  assert.strictEqual(await vscode.workspace.applyEdit(action.edit), true, `applying "${action.title}"`);
}

function hoverText(hovers: vscode.Hover[] | undefined): string {
  return (hovers ?? [])
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : 'value' in c ? c.value : ''))
    .join('\n');
}

suite('Spike Studio authoring', () => {
  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    if (ext && !ext.isActive) await Promise.resolve(ext.activate()).catch(() => undefined);
  });

  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('num_heads that does not divide embed_dim: diagnostic on the value; the quick fix sets the nearest divisor', async () => {
    const base = fs.readFileSync(path.join(workspaceDir(), 'examples', 'mnist-spikformer.spike.yaml'), 'utf8');
    const text = `${base.replace(/\s*$/, '\n')}model:\n  num_heads: 5\n`;
    const doc = await openConfig('heads.spike.yaml', text);
    const line = text.split('\n').indexOf('  num_heads: 5');
    const valueRange = new vscode.Range(line, 13, line, 14);

    const diagnostic = await waitFor(
      'the num_heads diagnostic at the value',
      20_000,
      () => ours(doc.uri).find((d) => d.range.isEqual(valueRange) && d.message.includes('num_heads')),
      () => describeDiagnostics(doc.uri),
    );
    assert.strictEqual(diagnostic.severity, vscode.DiagnosticSeverity.Error);

    const fix = await quickFix(doc, valueRange, 'Set num_heads to 4');
    assert.strictEqual(fix.isPreferred, true);
    await apply(fix);
    assert.ok(doc.getText().includes('  num_heads: 4\n'), `the value was replaced:\n${doc.getText()}`);
    await waitFor('the num_heads diagnostic to go away', 10_000, () => !ours(doc.uri).some((d) => d.message.includes('num_heads')), () => describeDiagnostics(doc.uri));
    await doc.save();
  });

  test('a misspelled key typed into the file: diagnostic on the key; the quick fix renames it', async () => {
    const doc = await openConfig('keys.spike.yaml', 'extends: spikformer-tiny/mnist\nname: keys\nmodel:\n  depth: 1\n');
    const edit = new vscode.WorkspaceEdit();
    edit.insert(doc.uri, new vscode.Position(4, 0), '  time_step: 4\n');
    assert.strictEqual(await vscode.workspace.applyEdit(edit), true);
    const keyRange = new vscode.Range(4, 2, 4, 11);

    await waitFor(
      'the unknown-key diagnostic on time_step',
      20_000,
      () => ours(doc.uri).find((d) => d.range.isEqual(keyRange) && d.message.includes('time_step')),
      () => describeDiagnostics(doc.uri),
    );
    await apply(await quickFix(doc, keyRange, 'Rename to time_steps'));
    assert.ok(doc.getText().includes('\n  time_steps: 4\n'), `the key was renamed:\n${doc.getText()}`);
    await waitFor('the unknown-key diagnostic to go away', 10_000, () => !ours(doc.uri).some((d) => d.message.includes('time_step"')), () => describeDiagnostics(doc.uri));
    await doc.save();
  });

  test('in_channels from the preset does not fit the dataset: the quick fix adds it under model (created)', async () => {
    const doc = await openConfig('channels.spike.yaml', 'extends: spikformer-tiny/mnist\nname: channels\ndata:\n  dataset: cifar10\n');
    const diagnostic = await waitFor(
      'the in_channels diagnostic',
      20_000,
      () => ours(doc.uri).find((d) => d.message.includes('in_channels')),
      () => describeDiagnostics(doc.uri),
    );
    const fix = await quickFix(doc, diagnostic.range, 'Set in_channels to 3 (cifar10)');
    await apply(fix);
    assert.ok(doc.getText().endsWith('data:\n  dataset: cifar10\nmodel:\n  in_channels: 3\n'), `model.in_channels was added:\n${doc.getText()}`);
    await waitFor('the in_channels diagnostic to go away', 10_000, () => !ours(doc.uri).some((d) => d.message.includes('in_channels')), () => describeDiagnostics(doc.uri));
    await doc.save();
  });

  test('hover on embed_dim shows the derived numbers', async () => {
    const doc = await openConfig('hover.spike.yaml', 'extends: spikformer-tiny/mnist\nname: hover\nmodel:\n  embed_dim: 64\n');
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(3, 5));
    const text = hoverText(hovers);
    assert.ok(text.includes('model.embed_dim'), `the hover names the key:\n${text}`);
    assert.match(text, /param/, `the hover shows the parameter count:\n${text}`);
    assert.doesNotMatch(text, /measured rates/, 'no run of this config yet: no measured line');
  });

  test('hover uses the measured firing rates of the latest run of this config', async () => {
    const file = path.join(workspaceDir(), 'measured.spike.yaml');
    const runDir = path.join(workspaceDir(), '.spike-studio', 'runs', '20990101-000000-measured');
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(path.join(runDir, 'config.resolved.json'), JSON.stringify({ version: 1, name: 'measured', source: file }));
    const t = Date.now() / 1000;
    const events = [
      { v: 1, type: 'firing', t, seq: 0, epoch: 1, step: 10, split: 'eval', layers: [{ name: 'patch_embed.proj_lif', rate: 0.05 }, { name: 'block.0.attn.q_lif', rate: 0.02 }] },
      { v: 1, type: 'done', t, seq: 1, status: 'completed' },
    ];
    fs.writeFileSync(path.join(runDir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const doc = await openConfig('measured.spike.yaml', 'extends: spikformer-tiny/mnist\nname: measured\nmodel:\n  embed_dim: 64\n');
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, new vscode.Position(3, 5));
    const text = hoverText(hovers);
    assert.match(text, /energy @ measured rates/, `the hover shows the energy at the measured rates:\n${text}`);
    assert.match(text, /20990101-000000-measured/, `the hover names the run:\n${text}`);
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  test('completion after "extends: " offers the presets', async () => {
    const doc = await openConfig('complete.spike.yaml', 'extends: \n');
    const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', doc.uri, new vscode.Position(0, 9), ' ');
    const labels = (list?.items ?? []).map((i) => (typeof i.label === 'string' ? i.label : i.label.label));
    assert.ok(labels.includes('spikformer-tiny/mnist'), `presets offered: ${labels.slice(0, 20).join(', ')}`);
  });

  test('Import Reference Config writes <name>.spike.yaml next to the yml and reports the unmapped keys', async () => {
    const dir = path.join(workspaceDir(), 'reference');
    fs.mkdirSync(dir, { recursive: true });
    const yml = path.join(dir, 'cifar10.yml');
    fs.writeFileSync(yml, 'model: spikformer\nepochs: 300\ntime_step: 4\nlayer: 4\ndim: 384\nnum_heads: 12\ndataset: torch/cifar10\nnum_classes: 10\nimg_size: 32\ncrop_pct: 1.0\nlr: 0.0005\n');
    const written = await vscode.commands.executeCommand<vscode.Uri | undefined>('spikeStudio.importReferenceConfig', vscode.Uri.file(yml), 'spikformer', { overwrite: true, noOpen: true });
    const target = path.join(dir, 'cifar10.spike.yaml');
    assert.ok(written, 'the command returns the written file');
    assert.strictEqual(written.fsPath, target);
    const text = fs.readFileSync(target, 'utf8');
    assert.match(text, /arch: spikformer/);
    assert.match(text, /crop_pct/, `the unmapped key is listed in the file:\n${text}`);
    assert.deepStrictEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file is left');
  });

  test('contributes the command, the snippet and yamlValidation with a shipped schema', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext);
    const all = new Set(await vscode.commands.getCommands(true));
    assert.ok(all.has('spikeStudio.importReferenceConfig'));
    const contributes = ext.packageJSON.contributes as { yamlValidation?: { fileMatch: string; url: string }[]; snippets?: { path: string }[] };
    const validation = contributes.yamlValidation?.find((v) => v.fileMatch === '*.spike.yaml');
    assert.ok(validation, 'yamlValidation for *.spike.yaml');
    assert.ok(fs.existsSync(path.join(ext.extensionPath, validation.url)), `${validation.url} exists`);
    for (const s of contributes.snippets ?? []) assert.ok(fs.existsSync(path.join(ext.extensionPath, s.path)), `${s.path} exists`);
  });
});
