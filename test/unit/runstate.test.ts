import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrainingProgress } from '../../src/cli/progress';
import type { RuntimeEvent } from '../../src/core/protocol';
import { applyEvents, emptyRunState, parseEventsText, runStateOf, summarizeRun, takeFresh } from '../../src/core/runs';
import { applyEvents as applyToModel, emptyModel, statusOf } from '../../webview/dashboard/model';

const E = (e: Record<string, unknown>) => ({ v: 1, t: 1000 + Number(e.seq), ...e }) as unknown as RuntimeEvent;
const hello = (seq: number, pid = 7) => E({ type: 'hello', seq, runtime_version: '0', python: '3', torch: '2', device: 'cpu', gpu: null, pid, run_dir: '/r' });
const epoch = (seq: number, n: number) => E({ type: 'epoch', seq, epoch: n, epochs: 4, steps_per_epoch: 10, lr: 0.001 });
const step = (seq: number, n: number, extra: Record<string, unknown> = {}) =>
  E({ type: 'step', seq, epoch: Math.ceil(n / 10), step: n, epoch_step: ((n - 1) % 10) + 1, steps_per_epoch: 10, loss: 1 / n, acc: 0.5, lr: 0.001, img_per_s: 100, ...extra });
const evalAt = (seq: number, n: number, top1: number, best: number) => E({ type: 'eval', seq, epoch: n, step: n * 10, loss: 0.3, top1, top5: 1, samples: 10, best_top1: best });
const done = (seq: number, status: string, best: number | null, extra: Record<string, unknown> = {}) =>
  E({ type: 'done', seq, status, epochs_completed: 1, steps: 10, best_top1: best, duration_s: 20, last_checkpoint: null, ...extra });
const error = (seq: number) => E({ type: 'error', seq, kind: 'runtime', message: 'boom' });

describe('run state: one reducer for summaries, registry progress, dashboard and CLI', () => {
  it('best top-1 is the maximum the run reached: a lower best_top1 on done does not lower it (the old folds disagreed)', () => {
    const events = [hello(0), evalAt(1, 1, 0.8, 0.8), done(2, 'stopped', 0.7)];
    assert.equal(runStateOf(events).bestTop1, 0.8);
    assert.equal(summarizeRun(events).bestTop1, 0.8);
    const m = emptyModel('r');
    applyToModel(m, events);
    assert.equal(m.bestTop1, 0.8);
    // done's best counts when it is higher, and a null best on done keeps what the evals showed
    assert.equal(runStateOf([hello(0), evalAt(1, 1, 0.6, 0.6), done(2, 'completed', 0.9)]).bestTop1, 0.9);
    assert.equal(runStateOf([hello(0), evalAt(1, 1, 0.6, 0.6), done(2, 'failed', null)]).bestTop1, 0.6);
    assert.equal(runStateOf([hello(0), done(1, 'failed', null)]).bestTop1, null);
  });

  it('an eval whose top1 beats its best_top1 counts (the runtime restored an older best from a checkpoint)', () => {
    assert.equal(runStateOf([evalAt(0, 1, 0.75, 0.7)]).bestTop1, 0.75);
  });

  it('done totals only raise the position: a segment that failed before restoring says 0', () => {
    const s = runStateOf([hello(0), step(1, 25), evalAt(2, 2, 0.5, 0.5), hello(3), done(4, 'failed', null, { steps: 0, epochs_completed: 0 })]);
    assert.equal(s.step, 25);
    assert.equal(s.epochsCompleted, 2);
    assert.equal(runStateOf([hello(0), step(1, 5), done(2, 'stopped', null, { steps: 6, epochs_completed: 3 })]).epochsCompleted, 3);
  });

  it('a new hello starts a segment: the earlier done and error no longer count; position, best and t0 stay', () => {
    const s = runStateOf([hello(0), step(1, 10), evalAt(2, 1, 0.6, 0.6), error(3), done(4, 'stopped', 0.6), hello(5, 8)]);
    assert.equal(s.done, null);
    assert.equal(s.error, null);
    assert.equal(s.hello?.pid, 8);
    assert.equal(s.step, 10);
    assert.equal(s.bestTop1, 0.6);
    assert.equal(s.t0, 1000);
    assert.equal(s.startedAt, 1005);
    const summary = summarizeRun([hello(0), done(1, 'stopped', null), hello(2, 9)]);
    assert.equal(summary.doneStatus, null);
    assert.equal(summary.pid, 9);
    // the dashboard too: a resumed run is running again, not stopped
    const m = emptyModel('r');
    applyToModel(m, [hello(0), done(1, 'stopped', null), hello(2)]);
    assert.equal(statusOf(m), 'running');
  });

  it('duration: done.duration_s, else the current segment from its hello to the last event', () => {
    assert.equal(runStateOf([hello(0), done(1, 'completed', null)]).durationS, 20);
    assert.equal(runStateOf([hello(0), done(1, 'stopped', null), hello(10), step(15, 1)]).durationS, 5);
  });

  it('compiling and download: set by their events, cleared by the first step (or an epoch for a download)', () => {
    const dl = E({ type: 'download', seq: 1, dataset: 'cifar10', stage: 'download', file: 'x', done: 1, total: 2 });
    const start = E({ type: 'phase', seq: 2, name: 'compile', state: 'start', cache_dir: '/c' });
    const s = runStateOf([hello(0), dl]);
    assert.equal(s.download?.seq, 1);
    applyEvents(s, [epoch(3, 1), start]);
    assert.equal(s.download, null);
    assert.deepEqual(s.compiling, { cacheDir: '/c' });
    applyEvents(s, [E({ type: 'phase', seq: 4, name: 'other', state: 'end' })]);
    assert.deepEqual(s.compiling, { cacheDir: '/c' });
    applyEvents(s, [step(5, 1)]);
    assert.equal(s.compiling, null);
    assert.equal(runStateOf([E({ type: 'download', seq: 0, dataset: 'cifar10', stage: 'done' })]).download, null);
  });

  it('steps: position, loss, acc (kept when a step has none), img/s, eta; epoch resets the step in the epoch', () => {
    const s = runStateOf([epoch(0, 1), step(1, 3, { eta_s: 40 }), step(2, 4, { acc: undefined })]);
    assert.deepEqual([s.epoch, s.epochs, s.stepsPerEpoch, s.epochStep, s.step, s.acc, s.imgPerS, s.etaS], [1, 4, 10, 4, 4, 0.5, 100, null]);
    assert.equal(s.loss, 0.25);
    applyEvents(s, [epoch(3, 2)]);
    assert.equal(s.epochStep, 0);
  });

  it('requeues, checkpoints (last preferred over best), model and firing', () => {
    const ck = (seq: number, kind: string) => E({ type: 'checkpoint', seq, epoch: 1, step: seq, path: `/r/${kind}.pt`, kind });
    const s = runStateOf([ck(1, 'last'), ck(2, 'best'), E({ type: 'requeued', seq: 3, epoch: 1, step: 2, restarts: 1 }), ck(4, 'best')]);
    assert.equal(s.lastCheckpoint?.seq, 1);
    assert.deepEqual(s.requeues, [{ step: 2, epoch: 1, t: 1003 }]);
    assert.equal(runStateOf([ck(1, 'best')]).lastCheckpoint?.kind, 'best');
  });

  it('the fold does not de-duplicate; takeFresh does, once, where events enter', () => {
    const mark = { lastSeq: -1 };
    assert.deepEqual(takeFresh(mark, [step(2, 2), step(1, 1), step(2, 2)]).map((e) => e.seq), [1, 2]); // out of order within a batch: sorted
    assert.equal(mark.lastSeq, 2);
    assert.deepEqual(takeFresh(mark, [step(1, 1), step(2, 2)]), []); // a repeated batch
    assert.deepEqual(takeFresh(mark, [step(3, 3), step(2, 2)]).map((e) => e.seq), [3]);
    assert.deepEqual(takeFresh(mark, [null, { type: 'step' }, step(4, 4)] as unknown as RuntimeEvent[]).map((e) => e.seq), [4]); // not events
    // the folds apply what they are given (the entry already filtered it): the dashboard model too
    const m = emptyModel('r');
    const entry = { lastSeq: -1 };
    assert.equal(applyToModel(m, takeFresh(entry, [epoch(0, 1), step(1, 1), step(2, 2)])), 3);
    assert.equal(applyToModel(m, takeFresh(entry, [step(1, 1), step(2, 2)])), 0); // a duplicate batch adds no points
    assert.equal(m.steps.length, 2);
    assert.equal(m.lastSeq, 2);
    assert.equal(runStateOf([step(1, 1), step(1, 1)]).step, 1);
  });

  it('the dashboard seeds best top-1 from the run summary and keeps the maximum', () => {
    const m = emptyModel('r', { id: 'r', name: 'r', status: 'running', dir: '/r', bestTop1: 0.9 });
    applyToModel(m, [evalAt(0, 1, 0.5, 0.5)]);
    assert.equal(m.bestTop1, 0.9);
  });

  it('the CLI line and its best top-1 read the same state', () => {
    let written = '';
    const progress = new TrainingProgress({ write: (t: string) => (written += t), isTTY: false });
    for (const e of [epoch(0, 1), step(1, 10), evalAt(2, 1, 0.8, 0.8), done(3, 'stopped', 0.7)]) progress.handle(e);
    assert.equal(progress.bestTop1, 0.8);
    assert.match(written, /eval: top-1 80\.0% .* best 80\.0%/);
    assert.match(progress.statusLine(), /step 10 .* top-1 80\.0%/);
  });

  it('every recorded fixture folds the same way in every consumer', () => {
    const dir = path.join(__dirname, '..', 'fixtures', 'events');
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
      const { events } = parseEventsText(fs.readFileSync(path.join(dir, file), 'utf8'));
      const state = runStateOf(events);
      const m = emptyModel('r');
      applyToModel(m, events);
      const progress = new TrainingProgress({ write: () => undefined, isTTY: false });
      for (const e of events) progress.handle(e);
      const summary = summarizeRun(events);
      assert.equal(m.bestTop1, state.bestTop1, file);
      assert.equal(progress.bestTop1, state.bestTop1, file);
      assert.equal(summary.bestTop1, state.bestTop1, file);
      assert.equal(m.step, state.step, file);
      assert.equal(m.steps.length, events.filter((e) => e.type === 'step').length, file);
      assert.notDeepEqual(state, emptyRunState(), file);
    }
  });
});
