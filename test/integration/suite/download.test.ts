// Issue "From installing the extension to training on CIFAR-10": New Config… → spikformer-4-384/cifar10 with
// spikeStudio.datasetMirror pointed at a local fixture server → Train downloads, verifies, extracts and trains one
// step; a second run reuses the download (the server counts its requests: one GET in all). Never the internet: a Node
// http server on 127.0.0.1 (ephemeral port, HTTP Range) serves a CIFAR-10 python tarball in the real format, written
// by the runtime's own test fixture (runtime/tests/dataset_server.py) with the configured interpreter; its md5 reaches
// the runtime through SPIKE_STUDIO_DATASET_CHECKSUMS in the extension host's environment (the training process
// inherits it), the test hook that replaces the publishers' checksums.
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { listRuns, readEvents, waitFor, type RunEvent } from './helpers';

const EXTENSION_ID = 'spike-studio.spike-studio';
const ARCHIVE = 'cifar-10-python.tar.gz';
const PRESET = 'spikformer-4-384/cifar10';

/** A static server with HTTP Range (206 / Content-Range, If-Range on the ETag) that records every request. */
function fixtureServer(files: Map<string, Buffer>): Promise<{ url: string; requests: { name: string; range: string | null }[]; close: () => Promise<void> }> {
  const requests: { name: string; range: string | null }[] = [];
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '').split('?')[0].split('/').pop() ?? '');
    const range = typeof req.headers.range === 'string' ? req.headers.range : null;
    requests.push({ name, range });
    const body = files.get(name);
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const etag = `"${crypto.createHash('md5').update(body).digest('hex')}"`;
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    const ifRange = req.headers['if-range'];
    const start = m && (!ifRange || ifRange === etag) ? Number(m[1]) : 0;
    if (start >= body.length && start > 0) {
      res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
      return;
    }
    const part = body.subarray(start);
    res.writeHead(start ? 206 : 200, {
      'Content-Length': String(part.length),
      ETag: etag,
      'Accept-Ranges': 'bytes',
      ...(start ? { 'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    res.end(part);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/mirror`, requests, close: () => new Promise<void>((r) => server.close(() => r())) });
    }),
  );
}

suite('Spike Studio first run: CIFAR-10 from a mirror', () => {
  let tmp = '';
  let server: Awaited<ReturnType<typeof fixtureServer>> | undefined;
  const savedEnv = process.env.SPIKE_STUDIO_DATASET_CHECKSUMS;

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    if (ext && !ext.isActive) await Promise.resolve(ext.activate()).catch(() => undefined);
  });

  suiteTeardown(async () => {
    await vscode.workspace.getConfiguration('spikeStudio').update('datasetMirror', undefined, vscode.ConfigurationTarget.Global);
    if (savedEnv === undefined) delete process.env.SPIKE_STUDIO_DATASET_CHECKSUMS;
    else process.env.SPIKE_STUDIO_DATASET_CHECKSUMS = savedEnv;
    await server?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('New Config → Train downloads, verifies, extracts and trains one step; a second run reuses the download', async function () {
    this.timeout(420_000);
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, 'the extension is loaded');
    const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    assert.ok(ws, 'a workspace folder is open');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-firstrun-'));

    // 1. the fixture archive (the runtime's test fixture, in the real CIFAR-10 python format) and its server
    const python = vscode.workspace.getConfiguration('spikeStudio').get<string>('pythonPath') || 'python3';
    const archive = path.join(tmp, ARCHIVE);
    const gen = spawnSync(python, ['-c', `import sys; sys.path[:0] = [sys.argv[2], sys.argv[3]]
from dataset_server import cifar10_tarball
open(sys.argv[1], "wb").write(cifar10_tarball(n=4))`, archive, path.join(ext.extensionPath, 'runtime', 'tests'), path.join(ext.extensionPath, 'runtime')], { encoding: 'utf8', timeout: 120_000 });
    assert.strictEqual(gen.status, 0, `writing the fixture archive with ${python}: ${gen.stderr}`);
    const body = fs.readFileSync(archive);
    server = await fixtureServer(new Map([[ARCHIVE, body]]));
    const checksums = path.join(tmp, 'checksums.json');
    fs.writeFileSync(checksums, JSON.stringify({ [ARCHIVE]: crypto.createHash('md5').update(body).digest('hex') }));
    process.env.SPIKE_STUDIO_DATASET_CHECKSUMS = checksums; // inherited by the training process
    await vscode.workspace.getConfiguration('spikeStudio').update('datasetMirror', server.url, vscode.ConfigurationTarget.Global);
    await waitFor('the datasetMirror setting', 10_000, () => vscode.workspace.getConfiguration('spikeStudio').get<string>('datasetMirror') === server!.url);

    // 2. New Config… (spikeStudio.newConfig returns the created file's Uri)
    const dataRoot = path.join(tmp, 'datasets');
    const overrides = [
      // a cheap step on CPU: a small model, batches of 2, one step, a 4-sample evaluation
      'model:', '  embed_dim: 32', '  num_heads: 2', '  depth: 1', '  time_steps: 1',
      'data:', `  root: ${JSON.stringify(dataRoot)}`, '  batch_size: 2', '  eval_batch_size: 4', '  limit_eval: 4',
      'train:', '  epochs: 1', '  max_steps_per_epoch: 1', '  warmup_epochs: 0', '  cooldown_epochs: 0', '  mixup_off_epoch: null', '  amp: false', '  device: cpu',
      'telemetry:', '  step_every: 1', '',
    ].join('\n');
    const made = await vscode.commands.executeCommand<vscode.Uri | undefined>('spikeStudio.newConfig', { preset: PRESET, name: 'c10' });
    assert.ok(made instanceof vscode.Uri, `spikeStudio.newConfig returned ${String(made)}`);
    const file = made.fsPath;
    assert.match(fs.readFileSync(file, 'utf8'), /^extends: spikformer-4-384\/cifar10$/m);
    // the test's small overrides, typed into the document New Config… opened (Train reads the editor's text, so a
    // write behind its back would train the full preset), then saved
    const doc = await vscode.workspace.openTextDocument(made);
    const edit = new vscode.WorkspaceEdit();
    edit.replace(made, new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), `extends: ${PRESET}\nname: c10\n${overrides}`);
    assert.ok(await vscode.workspace.applyEdit(edit), 'the overrides were applied to the open config');
    assert.ok(await doc.save(), 'the config was saved');
    assert.match(fs.readFileSync(file, 'utf8'), /max_steps_per_epoch: 1/);
    const uri = vscode.Uri.file(file);
    const runsDir = path.join(ws, '.spike-studio', 'runs');

    const train = async (label: string): Promise<RunEvent[]> => {
      const before = new Set(listRuns(runsDir));
      let trainError: unknown;
      void Promise.resolve(vscode.commands.executeCommand('spikeStudio.train', uri)).then(undefined, (e) => (trainError = e));
      const check = (): void => {
        if (trainError) throw new Error(`${label}: spikeStudio.train failed: ${String(trainError)}`);
      };
      const runId = await waitFor(`${label}: a new run directory`, 60_000, () => listRuns(runsDir).find((d) => !before.has(d) && d.endsWith('-c10')), check);
      const runDir = path.join(runsDir, runId);
      const diagnose = (): string => {
        let stderr = '';
        try {
          stderr = fs.readFileSync(path.join(runDir, 'stderr.log'), 'utf8').split('\n').slice(-20).join('\n');
        } catch {
          /* none */
        }
        return `${label} (run ${runId}); events: ${readEvents(runDir).map((e) => (e.type === 'download' ? `download:${e.stage}` : e.type)).join(',')}\nrequests: ${JSON.stringify(server!.requests)}\nstderr.log:\n${stderr}`;
      };
      let done: RunEvent;
      try {
        done = await waitFor(`${label}: the done event`, 300_000, () => readEvents(runDir).find((e) => e.type === 'done'), check);
      } catch (e) {
        throw new Error(`${String(e)}\n${diagnose()}`);
      }
      const events = readEvents(runDir);
      assert.strictEqual(done.status, 'completed', diagnose());
      assert.ok(events.filter((e) => e.type === 'step').length >= 1, `${label}: one step\n${diagnose()}`);
      return events;
    };

    const first = await train('first run');
    const stages = first.filter((e) => e.type === 'download').map((e) => e.stage);
    assert.ok(stages.includes('download') && stages.includes('verify') && stages.includes('extract'), `stages ${stages.join(',')}`);
    assert.strictEqual(stages[stages.length - 1], 'done', `stages ${stages.join(',')}`);
    const dl = first.filter((e) => e.type === 'download' && e.stage === 'download');
    assert.strictEqual(dl[dl.length - 1].url, `${server.url}/${ARCHIVE}`, 'fetched from the mirror setting');
    assert.ok(fs.existsSync(path.join(dataRoot, 'cifar-10-batches-py', 'test_batch')), 'extracted into data.root');
    assert.ok(!fs.existsSync(path.join(dataRoot, '.downloads', ARCHIVE)), 'the archive is removed after extraction');
    assert.strictEqual(server.requests.filter((r) => r.name === ARCHIVE).length, 1, JSON.stringify(server.requests));

    const second = await train('second run');
    assert.deepStrictEqual(second.filter((e) => e.type === 'download'), [], 'the second run downloads nothing');
    assert.strictEqual(server.requests.length, 1, `one request in all: ${JSON.stringify(server.requests)}`);
  });
});
