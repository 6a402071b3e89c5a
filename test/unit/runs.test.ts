import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configDefaults, type ResolvedConfig } from '../../src/core/config';
import type { RuntimeEvent } from '../../src/core/protocol';
import { createRun, EventTailer, listRuns, readEvents, runTimestamp, slugifyRunName, summarizeRun } from '../../src/core/runs';
import { removeDir, tempDir, waitFor } from './helpers';

const RESOLVED: ResolvedConfig = { version: 1, name: 'demo run', source: null, ...configDefaults() };
const line = (e: Record<string, unknown>) => JSON.stringify(e) + '\n';
const hello = (pid: number, seq = 0) => ({ v: 1, type: 'hello', t: 1000, seq, runtime_version: '0', python: '3', torch: '2', device: 'cpu', gpu: null, pid, run_dir: '/r' });
const evalEvent = (seq: number, top1: number, best: number) => ({ v: 1, type: 'eval', t: 1010, seq, epoch: 1, step: 10, loss: 0.3, top1, top5: 1, samples: 10, best_top1: best });
const done = (seq: number, status: string) => ({ v: 1, type: 'done', t: 1020, seq, status, epochs_completed: 1, steps: 10, best_top1: 0.9, duration_s: 20, last_checkpoint: null });

describe('runs: createRun', () => {
  let root: string;
  beforeEach(() => (root = tempDir()));
  afterEach(() => removeDir(root));

  it('makes <workspace>/.spike-studio/runs/YYYYMMDD-HHMMSS-name and writes config.resolved.json', () => {
    const now = new Date(2025, 0, 2, 3, 4, 5);
    const run = createRun(root, RESOLVED, undefined, { now });
    assert.equal(run.id, '20250102-030405-demo-run');
    assert.equal(run.dir, path.join(root, '.spike-studio', 'runs', run.id));
    assert.deepEqual(JSON.parse(fs.readFileSync(run.configPath, 'utf8')), RESOLVED);
    assert.deepEqual(fs.readdirSync(run.dir), ['config.resolved.json']); // no temp file left behind
  });

  it('gives unique ids in the same second: -2, -3', () => {
    const now = new Date(2025, 0, 2, 3, 4, 5);
    const ids = [1, 2, 3].map(() => createRun(root, RESOLVED, 'x', { now }).id);
    assert.deepEqual(ids, ['20250102-030405-x', '20250102-030405-x-2', '20250102-030405-x-3']);
  });

  it('slugs names and formats timestamps', () => {
    assert.equal(slugifyRunName('my exp/1: ok?'), 'my-exp-1-ok');
    assert.equal(slugifyRunName('///'), 'run');
    assert.equal(runTimestamp(new Date(2024, 11, 31, 23, 59, 58)), '20241231-235958');
  });
});

describe('runs: readEvents', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => removeDir(dir));

  it('skips and counts garbage lines and tolerates a torn last line', () => {
    const file = path.join(dir, 'events.jsonl');
    fs.writeFileSync(file, line(hello(1)) + 'garbage\n' + '{"not":"event"}\n\n' + line(evalEvent(1, 0.5, 0.5)) + '{"v":1,"type":"st');
    const result = readEvents(file);
    assert.deepEqual(result.events.map((e) => e.seq), [0, 1]);
    assert.equal(result.skipped, 2);
    assert.equal(result.tornTail, true);
  });

  it('a complete last line without a newline counts; a missing file reads as empty', () => {
    const file = path.join(dir, 'events.jsonl');
    fs.writeFileSync(file, line(hello(1)) + JSON.stringify(done(1, 'completed')));
    assert.equal(readEvents(file).events.length, 2);
    assert.deepEqual(readEvents(path.join(dir, 'nope.jsonl')), { events: [], skipped: 0, tornTail: false });
  });
});

describe('runs: summarizeRun and listRuns', () => {
  let root: string;
  beforeEach(() => (root = tempDir()));
  afterEach(() => removeDir(root));

  function runWith(name: string, events: object[]): string {
    const run = createRun(root, { ...RESOLVED, name }, undefined, { now: new Date(2025, 0, 1, 0, 0, events.length) });
    fs.writeFileSync(run.eventsPath, events.map((e) => line(e as Record<string, unknown>)).join(''));
    return run.id;
  }

  it('summarizes best top-1, status, duration', () => {
    const s = summarizeRun([hello(5), evalEvent(1, 0.6, 0.6), evalEvent(2, 0.5, 0.6), done(3, 'stopped')] as RuntimeEvent[]);
    assert.equal(s.doneStatus, 'stopped');
    assert.equal(s.bestTop1, 0.9);
    assert.equal(s.pid, 5);
    assert.equal(s.durationS, 20);
    assert.equal(summarizeRun([hello(5), evalEvent(1, 0.6, 0.6)] as RuntimeEvent[]).bestTop1, 0.6);
  });

  it('derives status: done wins; else running while the pid lives, else failed', () => {
    const completed = runWith('a', [hello(11), done(1, 'completed')]);
    const alive = runWith('b', [hello(22), evalEvent(1, 0.7, 0.7)]);
    const dead = runWith('c', [hello(33)]);
    const runs = listRuns(root, { isAlive: (pid) => pid === 22 });
    const status = Object.fromEntries(runs.map((r) => [r.id, r.status]));
    assert.deepEqual(status, { [completed]: 'completed', [alive]: 'running', [dead]: 'failed' });
    const b = runs.find((r) => r.id === alive);
    assert.equal(b?.name, 'b');
    assert.equal(b?.bestTop1, 0.7);
    assert.equal(b?.startedAt, 1000 * 1000);
  });

  it('a run without events is running only during the start-up grace period', () => {
    runWith('empty', []);
    assert.equal(listRuns(root)[0].status, 'running');
    assert.equal(listRuns(root, { now: () => Date.now() + 120_000 })[0].status, 'failed');
  });

  it('no runs folder → []', () => {
    assert.deepEqual(listRuns(path.join(root, 'nothing')), []);
  });
});

describe('runs: EventTailer', () => {
  let dir: string;
  let tailer: EventTailer | undefined;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => {
    tailer?.dispose();
    removeDir(dir);
  });

  it('follows a growing file, emitting only complete lines, in order', async () => {
    const file = path.join(dir, 'events.jsonl');
    const seen: number[] = [];
    const stray: string[] = [];
    tailer = new EventTailer(file, { pollMs: 20 });
    tailer.onEvents((batch) => seen.push(...batch.map((e) => e.seq)));
    tailer.onStray((text) => stray.push(text));
    tailer.start();
    await tailer.poll(); // file does not exist yet: nothing, no error
    fs.writeFileSync(file, line(hello(1, 0)));
    await waitFor(() => seen.length === 1);
    const torn = JSON.stringify(hello(1, 1));
    fs.appendFileSync(file, torn.slice(0, 10));
    await tailer.poll();
    assert.deepEqual(seen, [0]);
    fs.appendFileSync(file, torn.slice(10) + '\nnoise\n' + line(hello(1, 2)));
    await waitFor(() => seen.length === 3);
    assert.deepEqual(seen, [0, 1, 2]);
    assert.deepEqual(stray, ['noise']);
  });

  it('starts over when the file is truncated', async () => {
    const file = path.join(dir, 'events.jsonl');
    fs.writeFileSync(file, line(hello(1, 0)) + line(hello(1, 1)));
    const seen: number[] = [];
    let resets = 0;
    tailer = new EventTailer(file, { pollMs: 1000 });
    tailer.onEvents((batch) => seen.push(...batch.map((e) => e.seq)));
    tailer.onReset(() => resets++);
    await tailer.poll();
    fs.writeFileSync(file, line(hello(1, 7)));
    await tailer.poll();
    assert.deepEqual(seen, [0, 1, 7]);
    assert.equal(resets, 1);
  });
});
