import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configDefaults, type ResolvedConfig } from '../../src/core/config';
import type { RuntimeEvent } from '../../src/core/protocol';
import { createRun, readEvents } from '../../src/core/runs';
import { runDoctor, startTraining, type TrainingProcess } from '../../src/core/runtime';
import { FAKE_RUNTIME, hasPython, removeDir, tempDir, waitFor } from './helpers';

const RESOLVED: ResolvedConfig = { version: 1, name: 'fake', source: null, ...configDefaults() };

describe('runtime/doctor and runtime/process against a fake runtime', function () {
  let root: string;
  before(function () {
    if (!hasPython()) this.skip();
  });
  beforeEach(() => (root = tempDir()));
  afterEach(() => removeDir(root));

  it('runDoctor parses the JSON report and passes PYTHONPATH', async () => {
    const report = await runDoctor('python3', FAKE_RUNTIME, { env: { ...process.env, FAKE_MODE: 'ok' } });
    assert.equal(report.ok, true);
    assert.equal(report.torch, '2.5.0');
    assert.deepEqual(report.problems, []);
  });

  it('runDoctor: missing torch → a problem whose hint is the exact pip command for this python', async () => {
    const report = await runDoctor('python3', FAKE_RUNTIME, { env: { ...process.env, FAKE_MODE: 'notorch' } });
    assert.equal(report.ok, false);
    assert.equal(report.problems[0].hint, 'python3 -m pip install torch');
  });

  it('runDoctor: non-JSON output → doctor-failed with a command to run', async () => {
    const report = await runDoctor('python3', FAKE_RUNTIME, { env: { ...process.env, FAKE_MODE: 'garbage' } });
    assert.equal(report.ok, false);
    assert.equal(report.problems[0].kind, 'doctor-failed');
    assert.match(report.problems[0].hint ?? '', /-m spikestudio doctor/);
  });

  it('runDoctor: a missing executable → python-missing', async () => {
    const report = await runDoctor('/no/such/python', FAKE_RUNTIME);
    assert.equal(report.problems[0].kind, 'python-missing');
    assert.match(report.problems[0].message, /not found/);
  });

  function start(mode: string): { proc: TrainingProcess; events: RuntimeEvent[]; dir: string } {
    const run = createRun(root, RESOLVED);
    const proc = startTraining({ python: 'python3', runtimeRoot: FAKE_RUNTIME, resolvedConfigPath: run.configPath, runDir: run.dir, env: { FAKE_MODE: mode } });
    const events: RuntimeEvent[] = [];
    proc.onEvent((e) => events.push(e));
    return { proc, events, dir: run.dir };
  }

  it('streams events, logs stderr to RUN_DIR/stderr.log, and reports the exit after the last event', async () => {
    const { proc, events, dir } = start('ok');
    const stderr: string[] = [];
    proc.onStderr((t) => stderr.push(t));
    let exitSawDone = false;
    proc.onExit((code) => (exitSawDone = code === 0 && events.some((e) => e.type === 'done')));
    const { code } = await proc.exited;
    assert.equal(code, 0);
    assert.ok(exitSawDone);
    assert.deepEqual(events.map((e) => e.type), ['hello', 'model', 'epoch', 'step', 'step', 'step', 'eval', 'done']);
    assert.equal(typeof proc.pid, 'number');
    assert.match(stderr.join(''), /fake runtime: starting/);
    await waitFor(() => fs.readFileSync(path.join(dir, 'stderr.log'), 'utf8').includes('fake runtime: starting'));
    assert.equal(readEvents(path.join(dir, 'events.jsonl')).events.length, events.length);
  });

  it('stop() writes {"type":"stop"} and the runtime ends with done{stopped}', async () => {
    const { proc, events } = start('slow');
    await waitFor(() => events.some((e) => e.type === 'step'));
    proc.stop();
    const { code } = await proc.exited;
    assert.equal(code, 0);
    const done = events.at(-1);
    assert.equal(done?.type === 'done' && done.status, 'stopped');
  });

  it('kill() ends the process with a signal', async () => {
    const { proc, events } = start('slow');
    await waitFor(() => events.some((e) => e.type === 'step'));
    proc.kill();
    const { signal } = await proc.exited;
    assert.equal(signal, 'SIGTERM');
    assert.equal(proc.running, false);
  });

  it('surfaces non-JSON stdout as stray output and a failure as error + done{failed} + exit 1', async () => {
    const stray = start('stray');
    const lines: string[] = [];
    stray.proc.onStrayOutput((l) => lines.push(l));
    await stray.proc.exited;
    assert.deepEqual(lines, ['this is not json']);

    const failed = start('fail');
    const { code } = await failed.proc.exited;
    assert.equal(code, 1);
    assert.deepEqual(failed.events.slice(-2).map((e) => e.type), ['error', 'done']);
  });

  it('a missing python executable → stderr message and exit 127', async () => {
    const run = createRun(root, RESOLVED);
    const proc = startTraining({ python: '/no/such/python', runtimeRoot: FAKE_RUNTIME, resolvedConfigPath: run.configPath, runDir: run.dir });
    const stderr: string[] = [];
    proc.onStderr((t) => stderr.push(t));
    const { code } = await proc.exited;
    assert.equal(code, 127);
    assert.match(stderr.join(''), /Python was not found/);
  });
});
