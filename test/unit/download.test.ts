// The `download` event (dataset download and frame-cache build, runtime/spikestudio/data/download.py): its schema,
// the one-line text the CLI and the VS Code notification show (progress, rate, ETA), and the CLI's live line.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { TrainingProgress } from '../../src/cli/progress';
import type { DownloadEvent } from '../../src/core/protocol';
import { downloadFinished, downloadMessage, etaText } from '../../src/core/runtime';
import { REPO_ROOT } from './helpers';

const SCHEMA = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'runtime', 'spikestudio', 'schemas', 'events.schema.json'), 'utf8'));
const base = { v: 1 as const, t: 1, seq: 0, type: 'download' as const, dataset: 'cifar10' };
const dl = (f: Partial<DownloadEvent>): DownloadEvent => ({ ...base, stage: 'download', file: 'cifar-10-python.tar.gz', url: 'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz', unit: 'bytes', ...f });

describe('download events', () => {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(SCHEMA);

  it('validate against events.schema.json; a bad stage or a negative amount does not', () => {
    for (const e of [
      dl({ done: 0, total: 170498071, rate: null, eta_s: null }),
      dl({ done: 5e7, total: 170498071, rate: 5.1e6, eta_s: 23.6, resumed_from: 4096 }),
      dl({ done: 5e7, total: null }),
      { ...base, stage: 'verify', file: 'cifar-10-python.tar.gz' },
      { ...base, stage: 'extract', file: 'cifar-10-python.tar.gz', done: 0, total: 1, unit: 'files' },
      { ...base, dataset: 'cifar10-dvs', stage: 'frames', file: 'frames_number_16_split_by_number', done: 10, total: 10000, unit: 'samples', rate: 50, eta_s: 199.8 },
      { ...base, stage: 'done', file: 'cifar-10-batches-py' },
      { ...base, stage: 'wait', file: '/c' },
      { ...base, stage: 'reused', file: 'cifar-10-batches-py' },
    ]) {
      assert.ok(validate(e), `${JSON.stringify(e)}: ${JSON.stringify(validate.errors)}`);
    }
    assert.equal(validate({ ...base, stage: 'downloading' }), false);
    assert.equal(validate(dl({ done: -1 })), false);
    assert.equal(validate({ ...base, stage: undefined }), false);
  });

  it('say what, how much, how fast and when it ends', () => {
    assert.equal(downloadMessage(dl({ done: 45.2e6, total: 170.5e6, rate: 5.1e6, eta_s: 24.6 })),
      'downloading cifar-10-python.tar.gz: 45.2 MB / 170.5 MB (26%) · 5.1 MB/s · ETA 25s');
    assert.equal(downloadMessage(dl({ done: 4096, total: 170.5e6, resumed_from: 4096, rate: null, eta_s: null })),
      'downloading cifar-10-python.tar.gz (resumed): 4 kB / 170.5 MB (0%) · ETA --');
    assert.equal(downloadMessage(dl({ done: 2.3e9, total: null, rate: 1e6 })), 'downloading cifar-10-python.tar.gz: 2.30 GB · 1.0 MB/s');
    assert.equal(downloadMessage({ ...base, dataset: 'cifar10-dvs', stage: 'frames', done: 250, total: 10000, unit: 'samples', rate: 50, eta_s: 195 }),
      'cifar10-dvs: building the frame cache: 250 / 10000 (2%) · 50 samples/s · ETA 3m15s');
    assert.equal(downloadMessage({ ...base, stage: 'verify', file: 'x.tar.gz' }), 'verifying x.tar.gz (checksum)…');
    assert.equal(downloadMessage({ ...base, stage: 'wait' }), 'cifar10: waiting for another run that downloads it…');
    assert.equal(etaText(3725), '1h02m');
    assert.ok(downloadFinished({ ...base, stage: 'done' }) && downloadFinished({ ...base, stage: 'reused' }));
    assert.ok(!downloadFinished(dl({ done: 1, total: 2 })));
  });

  it('CLI: a live line redrawn in place on a TTY, stage changes as lines, training afterwards', () => {
    let written = '';
    const progress = new TrainingProgress({ write: (t: string) => (written += t), isTTY: true, columns: 200 });
    progress.handle(dl({ done: 0, total: 1e6, rate: null, eta_s: null }));
    progress.handle(dl({ done: 5e5, total: 1e6, rate: 1e5, eta_s: 5 }));
    progress.handle({ ...base, stage: 'verify', file: 'cifar-10-python.tar.gz' });
    progress.handle({ ...base, stage: 'done', file: 'cifar-10-batches-py' });
    assert.ok(written.includes('\r\x1b[2Kdownloading cifar-10-python.tar.gz: 500 kB / 1.0 MB (50%) · 100 kB/s · ETA 5s'));
    const lines = written.split('\n').map((l) => l.split('\r\x1b[2K').pop());
    assert.deepEqual(lines.slice(-3), ['verifying cifar-10-python.tar.gz (checksum)…', 'cifar10: downloaded and extracted (cifar-10-batches-py)', '']);
  });

  it('CLI without a TTY: the first line, then at most one per interval', () => {
    let written = '';
    let now = 0;
    const progress = new TrainingProgress({ write: (t: string) => (written += t), isTTY: false }, { now: () => now, plainIntervalMs: 1000 });
    progress.handle(dl({ done: 0, total: 1e6 }));
    now = 500;
    progress.handle(dl({ done: 2e5, total: 1e6, rate: 4e5, eta_s: 2 }));
    now = 1600;
    progress.handle(dl({ done: 6e5, total: 1e6, rate: 4e5, eta_s: 1 }));
    assert.deepEqual(written.trim().split('\n'), [
      'downloading cifar-10-python.tar.gz: 0 B / 1.0 MB (0%) · ETA --',
      'downloading cifar-10-python.tar.gz: 600 kB / 1.0 MB (60%) · 400 kB/s · ETA 1s',
    ]);
  });
});

describe('config: data.download and a data.root that does not exist yet', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadConfig } = require('../../src/core/config') as typeof import('../../src/core/config');
  const warnings = (text: string) => loadConfig(text, '/nowhere/x.spike.yaml').diagnostics.filter((d) => d.message.includes('does not exist'));

  it('no warning when the runtime will download into it; a warning with download: false or a manual dataset', () => {
    const base = 'extends: spikformer-4-384/cifar10\ndata:\n  root: /nowhere/datasets\n';
    assert.deepEqual(warnings(base), []);
    assert.equal(warnings(base + '  download: false\n').length, 1);
    assert.equal(warnings('extends: spikformer-4-384/cifar10\ndata:\n  dataset: imagenet\n  root: /nowhere/in\n').length, 1);
    const { resolved } = loadConfig(base, '/nowhere/x.spike.yaml');
    assert.equal(resolved?.data.download, true, 'data.download defaults to true');
  });
});
