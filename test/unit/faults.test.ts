// Fault tolerance: process death and resume, reload (live pids), safe run folders, delete, two runs at once.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configDefaults, type ResolvedConfig } from '../../src/core/config';
import type { RuntimeEvent } from '../../src/core/protocol';
import {
  assertSafeRunId,
  canDelete,
  createRun,
  deleteRun,
  describeFailure,
  isResumable,
  listRuns,
  readEvents,
  readRun,
  runDirIn,
  SkippedLinesReporter,
} from '../../src/core/runs';
import { startTraining, trainingArgs, type TrainingProcess } from '../../src/core/runtime';
import { FAKE_RUNTIME, hasPython, removeDir, tempDir, waitFor } from './helpers';

const RESOLVED: ResolvedConfig = { version: 1, name: 'fault', source: null, ...configDefaults() };
const line = (e: Record<string, unknown>) => JSON.stringify(e) + '\n';
const hello = (pid: number) => ({ v: 1, type: 'hello', t: 1000, seq: 0, runtime_version: '0', python: '3', torch: '2', device: 'cpu', gpu: null, pid, run_dir: '/r' });
const checkpoint = (seq: number, dir: string, kind: 'last' | 'best', epoch: number, step: number) => ({
  v: 1, type: 'checkpoint', t: 1001 + seq, seq, epoch, step, path: path.join(dir, 'checkpoints', `${kind}.pt`), kind,
});
const done = (seq: number, status: string) => ({ v: 1, type: 'done', t: 1020, seq, status, epochs_completed: 1, steps: 10, best_top1: 0.9, duration_s: 20, last_checkpoint: null });

/** A pid that is certainly dead: a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('faults: status derivation after process death and reload', () => {
  let root: string;
  beforeEach(() => (root = tempDir()));
  afterEach(() => removeDir(root));

  function runWith(events: (dir: string) => Record<string, unknown>[]): string {
    const run = createRun(root, RESOLVED);
    fs.writeFileSync(run.eventsPath, events(run.dir).map(line).join(''));
    return run.dir;
  }

  it('listRuns: no done + a live pid (a run started before a reload) → running', () => {
    runWith((dir) => [hello(process.pid), checkpoint(1, dir, 'last', 1, 10)]);
    const [run] = listRuns(root); // the default isAlive: process.kill(pid, 0)
    assert.equal(run.status, 'running');
    assert.equal(run.failure, null);
  });

  it('listRuns: no done + a dead pid → failed, and the message names the last checkpoint', () => {
    const dir = runWith((d) => [hello(deadPid()), checkpoint(1, d, 'best', 1, 10), checkpoint(2, d, 'last', 1, 10), checkpoint(3, d, 'last', 2, 20), checkpoint(4, d, 'best', 2, 20)]);
    const [run] = listRuns(root);
    assert.equal(run.status, 'failed');
    assert.equal(run.summary.lastCheckpoint?.kind, 'last');
    assert.equal(run.summary.lastCheckpoint?.step, 20);
    assert.match(run.failure ?? '', /ended without finishing/);
    assert.match(run.failure ?? '', /last checkpoint: checkpoints[/\\]last\.pt \(epoch 2, step 20\)/);
    assert.equal(isResumable(run), true);
    assert.equal(run.dir, dir);
  });

  it('failed without any checkpoint says so and is not resumable; a done event always wins', () => {
    runWith(() => [hello(deadPid())]);
    let [run] = listRuns(root);
    assert.equal(run.status, 'failed');
    assert.match(describeFailure(run), /no checkpoint was written/);
    assert.equal(isResumable(run), false);
    removeDir(root);
    fs.mkdirSync(root);
    runWith((d) => [hello(process.pid), checkpoint(1, d, 'last', 1, 5), done(2, 'stopped')]);
    [run] = listRuns(root, { isAlive: () => true });
    assert.equal(run.status, 'stopped');
    assert.equal(isResumable(run), true);
  });

  it('a resumed run (a new hello after a done) is running again, not stopped', () => {
    const dir = runWith((d) => [hello(deadPid()), checkpoint(1, d, 'last', 1, 5), done(2, 'stopped'), { ...hello(process.pid), seq: 3 }]);
    const run = readRun(dir);
    assert.equal(run.status, 'running');
    assert.equal(run.summary.done, null);
    assert.equal(run.summary.lastCheckpoint?.step, 5);
  });

  it('an error event is named in the failure', () => {
    const dir = runWith(() => [hello(1), { v: 1, type: 'error', t: 1001, seq: 1, kind: 'oom', message: 'CUDA out of memory' }]);
    const run = readRun(dir, { isAlive: () => false });
    assert.equal(run.status, 'failed');
    assert.match(run.failure ?? '', /^oom: CUDA out of memory; no checkpoint was written\.$/);
  });

  it('SkippedLinesReporter reports each file once', () => {
    const dir = runWith(() => [hello(1)]);
    fs.appendFileSync(path.join(dir, 'events.jsonl'), 'garbage\n{"half": \n');
    const reporter = new SkippedLinesReporter();
    const run = readRun(dir, { isAlive: () => false });
    assert.equal(run.skippedLines, 2);
    assert.match(reporter.check(run) ?? '', /skipped 2 unreadable lines/);
    assert.equal(reporter.check(run), undefined);
    assert.equal(reporter.check(readRun(dir, { isAlive: () => false })), undefined);
    assert.equal(reporter.check({ dir: path.join(root, 'other'), skippedLines: 0 }), undefined);
  });
});

describe('faults: run folders stay inside the runs folder', () => {
  let root: string;
  beforeEach(() => (root = tempDir()));
  afterEach(() => removeDir(root));

  it('assertSafeRunId / runDirIn refuse separators, `..`, absolute paths and NUL', () => {
    for (const bad of ['', '.', '..', '../x', 'a/b', 'a\\b', '/etc', 'x\0y']) {
      assert.throws(() => assertSafeRunId(bad), /not a valid run id/, bad);
      assert.throws(() => runDirIn(path.join(root, 'runs'), bad), Error, bad);
    }
    assert.equal(runDirIn('/w/runs', '20250101-000000-a..b'), path.join('/w/runs', '20250101-000000-a..b'));
  });

  it('createRun: hostile names still land directly inside <workspace>/.spike-studio/runs', () => {
    const runsDir = path.join(root, '.spike-studio', 'runs');
    for (const name of ['../../escape', '/etc/passwd', '..', 'a/../../b', '..\\..\\win', '\0']) {
      const run = createRun(root, RESOLVED, name);
      assert.equal(path.dirname(run.dir), runsDir, name);
    }
    assert.deepEqual(fs.readdirSync(root), ['.spike-studio']);
  });

  it('canDelete refuses a running run; deleteRun deletes only a run folder inside the runs folder', () => {
    assert.equal(canDelete({ id: 'a', status: 'running' }).ok, false);
    for (const status of ['completed', 'failed', 'stopped'] as const) assert.equal(canDelete({ id: 'a', status }).ok, true);
    const run = createRun(root, RESOLVED);
    const runsDir = path.dirname(run.dir);
    assert.throws(() => deleteRun(runsDir, runsDir), /refusing/);
    assert.throws(() => deleteRun(runsDir, root), /refusing/);
    assert.throws(() => deleteRun(runsDir, path.join(runsDir, '..', '..')), /refusing/);
    assert.throws(() => deleteRun(path.join(runsDir, run.id), path.join(run.dir, 'checkpoints')), /refusing|ENOENT/);
    fs.writeFileSync(path.join(runsDir, 'file'), 'x');
    assert.throws(() => deleteRun(runsDir, path.join(runsDir, 'file')), /not a folder/);
    fs.mkdirSync(path.join(runsDir, 'not-a-run'));
    assert.throws(() => deleteRun(runsDir, path.join(runsDir, 'not-a-run')), /not a run/);
    deleteRun(runsDir, run.dir);
    assert.equal(fs.existsSync(run.dir), false);
    assert.equal(fs.existsSync(runsDir), true);
  });
});

describe('faults: startTraining (resume, process death, two runs at once) with the fake runtime', function () {
  let root: string;
  before(function () {
    if (!hasPython()) this.skip();
  });
  beforeEach(() => (root = tempDir()));
  afterEach(() => removeDir(root));

  it('trainingArgs: `train --resume RUN_DIR` with resume, else --config/--run-dir', () => {
    assert.deepEqual(trainingArgs({ resolvedConfigPath: '/r/c.json', runDir: '/r', resume: true }), ['-m', 'spikestudio', 'train', '--resume', '/r']);
    assert.deepEqual(trainingArgs({ resolvedConfigPath: '/r/c.json', runDir: '/r' }), ['-m', 'spikestudio', 'train', '--config', '/r/c.json', '--run-dir', '/r']);
    assert.deepEqual(trainingArgs({ resolvedConfigPath: '', runDir: '/r', resume: true, extraArgs: ['--x'] }).slice(-1), ['--x']);
  });

  function start(dir: string, configPath: string, mode: string, resume = false): { proc: TrainingProcess; events: RuntimeEvent[] } {
    const proc = startTraining({ python: 'python3', runtimeRoot: FAKE_RUNTIME, resolvedConfigPath: configPath, runDir: dir, env: { FAKE_MODE: mode }, resume });
    const events: RuntimeEvent[] = [];
    proc.onEvent((e) => events.push(e));
    return { proc, events };
  }

  it('a runtime killed without `done` reads as failed naming its checkpoint; resume appends to the same run', async () => {
    const run = createRun(root, RESOLVED);
    const first = start(run.dir, run.configPath, 'die');
    const exit = await first.proc.exited;
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(first.events.some((e) => e.type === 'done'), false);
    let info = readRun(run.dir);
    assert.equal(info.status, 'failed');
    assert.match(info.failure ?? '', /last checkpoint: checkpoints[/\\]last\.pt \(epoch 1, step 1\)/);
    assert.equal(isResumable(info), true);

    const second = start(run.dir, '', 'ok', true);
    assert.equal((await second.proc.exited).code, 0);
    assert.equal(second.events.at(-1)?.type, 'done');
    const all = readEvents(run.eventsPath);
    assert.equal(all.skipped, 0);
    const seqs = all.events.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.equal(new Set(seqs).size, seqs.length, 'seq continues after the last event');
    info = readRun(run.dir);
    assert.equal(info.status, 'completed');
    assert.deepEqual(fs.readdirSync(path.dirname(run.dir)), [run.id]);
  });

  it('two runs at once keep separate folders and processes, and both stream', async () => {
    const now = new Date(2025, 0, 2, 3, 4, 5);
    const a = createRun(root, RESOLVED, undefined, { now });
    const b = createRun(root, RESOLVED, undefined, { now });
    assert.notEqual(a.id, b.id);
    const ra = start(a.dir, a.configPath, 'slow');
    const rb = start(b.dir, b.configPath, 'slow');
    assert.notEqual(ra.proc.pid, rb.proc.pid);
    await waitFor(() => ra.events.filter((e) => e.type === 'step').length >= 2 && rb.events.filter((e) => e.type === 'step').length >= 2);
    const running = listRuns(root);
    assert.deepEqual(running.map((r) => r.status), ['running', 'running']);
    ra.proc.stop();
    await ra.proc.exited;
    assert.equal(rb.proc.running, true, 'stopping one run leaves the other');
    rb.proc.stop();
    await rb.proc.exited;
    for (const [r, run] of [[ra, a], [rb, b]] as const) {
      const hello = r.events.find((e) => e.type === 'hello');
      assert.equal(hello?.type === 'hello' && hello.run_dir, run.dir);
      assert.equal(readEvents(run.eventsPath).events.length, r.events.length);
      assert.equal(r.events.at(-1)?.type === 'done' && r.events.at(-1)?.type, 'done');
    }
    assert.deepEqual(listRuns(root).map((r) => r.status), ['stopped', 'stopped']);
  });
});
