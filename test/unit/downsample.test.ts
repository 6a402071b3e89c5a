import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { emaDebiased, lowerBound, minMaxDownsample } from '../../webview/dashboard/downsample';
import { buildCsv, curveRows, CSV_HEADER, RUN_PALETTE, runColor, runColors } from '../../webview/dashboard/export';
import { applyEvents, emptyModel } from '../../webview/dashboard/model';
import type { RuntimeEvent } from '../../src/core/protocol';

const range = <T = number>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

describe('minMaxDownsample', () => {
  it('returns short series unchanged (copies)', () => {
    const xs = [1, 2, 3];
    const ys = [5, 4, 6];
    const r = minMaxDownsample(xs, ys, 100);
    assert.deepEqual(r, { xs: [1, 2, 3], ys: [5, 4, 6] });
    assert.notEqual(r.xs, xs);
  });

  it('keeps a single spike that random sampling would lose', () => {
    const n = 100_000;
    const xs = range(n, (i) => i + 1);
    const ys = range(n, (i) => (i === 54_321 ? 1e6 : i === 77_777 ? -5 : Math.sin(i / 100)));
    const r = minMaxDownsample(xs, ys, 2000);
    assert.ok(r.xs.length <= 2002, `too many points: ${r.xs.length}`);
    assert.ok(r.xs.length >= 1000, `too few points: ${r.xs.length}`);
    assert.equal(Math.max(...r.ys), 1e6);
    assert.equal(Math.min(...r.ys), -5);
    assert.equal(r.xs[r.ys.indexOf(1e6)], 54_322, 'the spike keeps its x');
  });

  it('always keeps the first and last points, in x order', () => {
    const xs = range(10_000, (i) => i * 0.5);
    const ys = range(10_000, (i) => Math.cos(i));
    const r = minMaxDownsample(xs, ys, 300);
    assert.equal(r.xs[0], 0);
    assert.equal(r.ys[0], 1);
    assert.equal(r.xs[r.xs.length - 1], xs[xs.length - 1]);
    for (let i = 1; i < r.xs.length; i++) assert.ok(r.xs[i] >= r.xs[i - 1], `x order broken at ${i}`);
  });

  it('drops non-finite points and honours a [lo, hi) index range', () => {
    const xs = range(5000, (i) => i);
    const ys = range(5000, (i) => (i % 7 === 0 ? NaN : i));
    const r = minMaxDownsample(xs, ys, 200, 1000, 2000);
    assert.ok(r.ys.every(Number.isFinite));
    assert.ok(r.xs[0] >= 1000 && r.xs[r.xs.length - 1] <= 1999);
    assert.equal(Math.max(...r.ys), 1999);
    assert.equal(minMaxDownsample([], [], 10).xs.length, 0);
  });

  it('property: every bucket keeps its min and max; the result is a subset of the input', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 3000 }), fc.integer({ min: 2, max: 400 }), (ys, maxPoints) => {
        const xs = ys.map((_, i) => i);
        const r = minMaxDownsample(xs, ys, maxPoints);
        assert.ok(r.xs.length <= Math.max(maxPoints, 2) + 2);
        for (let i = 0; i < r.xs.length; i++) assert.equal(r.ys[i], ys[r.xs[i]]);
        assert.equal(Math.max(...r.ys), Math.max(...ys));
        assert.equal(Math.min(...r.ys), Math.min(...ys));
      }),
      { numRuns: 200 },
    );
  });

  it('lowerBound finds the first element ≥ x', () => {
    assert.equal(lowerBound([1, 2, 2, 5], 2), 1);
    assert.equal(lowerBound([1, 2, 2, 5], 3), 3);
    assert.equal(lowerBound([1, 2, 2, 5], 9), 4);
    assert.equal(lowerBound([], 1), 0);
  });
});

describe('emaDebiased', () => {
  it('matches TensorBoard classic smoothing: (EMA) / (1 − w^t)', () => {
    const ys = [1, 2, 3, 4];
    const w = 0.6;
    const out = emaDebiased(ys, w);
    let last = 0;
    ys.forEach((y, i) => {
      last = last * w + (1 - w) * y;
      assert.ok(Math.abs(out[i] - last / (1 - w ** (i + 1))) < 1e-12);
    });
    assert.equal(out[0], 1, 'debiased: the first value is the first point, not (1−w)·y');
  });

  it('passes constant series and weight 0 through; keeps non-finite points', () => {
    assert.deepEqual(emaDebiased([3, 3, 3], 0.9), [3, 3, 3]);
    assert.deepEqual(emaDebiased([1, 5, 2], 0), [1, 5, 2]);
    const out = emaDebiased([1, NaN, 3], 0.5);
    assert.ok(Number.isNaN(out[1]));
    assert.ok(Math.abs(out[2] - (0.5 * 0.5 + 0.5 * 3) / (1 - 0.25)) < 1e-12);
  });

  it('stays within the range of the data and differs from the raw values', () => {
    const ys = range(500, (i) => Math.exp(-i / 100) + (i % 2 ? 0.1 : -0.1));
    const out = emaDebiased(ys, 0.9);
    for (const v of out) assert.ok(v >= Math.min(...ys) - 1e-12 && v <= Math.max(...ys) + 1e-12);
    assert.notDeepEqual(out, ys);
  });
});

describe('curve CSV export and run colours', () => {
  const ev = (seq: number, e: Record<string, unknown>) => ({ v: 1, t: 1700000000 + seq, seq, ...e }) as unknown as RuntimeEvent;
  const model = (id: string) => {
    const m = emptyModel(id);
    applyEvents(m, [
      ev(0, { type: 'epoch', epoch: 1, epochs: 2, steps_per_epoch: 4, lr: 0.1 }),
      ev(1, { type: 'step', epoch: 1, step: 2, epoch_step: 2, steps_per_epoch: 4, loss: 1.5, acc: 0.25, lr: 0.1, img_per_s: 900 }),
      ev(2, { type: 'step', epoch: 2, step: 6, epoch_step: 2, steps_per_epoch: 4, loss: 1.25, lr: 0.05, img_per_s: 950 }),
      ev(3, { type: 'eval', epoch: 1, step: 4, loss: 1.4, top1: 0.5, top5: 0.9, samples: 10, best_top1: 0.5 }),
    ]);
    return m;
  };

  it('writes run,metric,step,epoch,wall,value rows for every run (raw values, fractional epochs)', () => {
    const csv = buildCsv(curveRows([{ name: 'a', model: model('run-a') }, { name: 'b, "quoted"', model: model('run-b') }]));
    const lines = csv.trimEnd().split('\n');
    assert.equal(lines[0], CSV_HEADER);
    assert.ok(csv.endsWith('\n'));
    assert.ok(lines.includes('a,train_loss,2,0.5,1700000001,1.5'), lines.join('\n'));
    assert.ok(lines.includes('a,train_loss,6,1.5,1700000002,1.25'));
    assert.ok(lines.includes('a,train_acc,2,0.5,1700000001,0.25'));
    assert.ok(!lines.some((l) => l.startsWith('a,train_acc,6')), 'no row for a missing acc');
    assert.ok(lines.includes('a,lr,6,1.5,1700000002,0.05'));
    assert.ok(lines.includes('a,img_per_s,2,0.5,1700000001,900'));
    assert.ok(lines.includes('a,eval_top1,4,1,1700000003,0.5'));
    assert.ok(lines.includes('"b, ""quoted""",eval_top5,4,1,1700000003,0.9'), 'fields with commas and quotes are quoted');
    assert.equal(lines.length, 1 + 2 * (2 + 1 + 2 + 2 + 3));
  });

  it('buildCsv leaves null and non-finite cells empty', () => {
    assert.equal(buildCsv([{ run: 'r', metric: 'm', step: 1, epoch: null, wall: NaN, value: null }]), `${CSV_HEADER}\nr,m,1,,,\n`);
  });

  it('run colours are stable hashes into the palette, distinct within one comparison', () => {
    assert.equal(runColor('run-a'), runColor('run-a'));
    assert.ok((RUN_PALETTE as readonly string[]).includes(runColor('x')));
    const ids = range(10, (i) => `run-${i}`);
    assert.equal(new Set(runColors(ids)).size, 10);
    assert.equal(runColors(['only'])[0], runColor('only'));
  });
});
