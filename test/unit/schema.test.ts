import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { ATTENTION_KINDS, RUNTIME_EVENT_TYPES } from '../../src/core/protocol';
import { parseEventsText, summarizeRun } from '../../src/core/runs';
import { classifyLine } from '../../src/core/runtime/jsonlines';
import { eventErrors } from './eventSchema';
import { FAKE_RUNTIME, FIXTURES, hasPython, REPO_ROOT, removeDir, tempDir } from './helpers';

const SCHEMA_FILE = path.join(REPO_ROOT, 'runtime', 'spikestudio', 'schemas', 'events.schema.json');
const EVENTS_DIR = path.join(FIXTURES, 'events');

function eventFixtures(): string[] {
  if (!fs.existsSync(EVENTS_DIR)) return [];
  return fs.readdirSync(EVENTS_DIR).filter((f) => f.endsWith('.jsonl'));
}

describe('protocol: recorded event streams validate against events.schema.json', () => {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')));

  it('the fake runtime used by the unit tests speaks the schema too', () => {
    const sample = { v: 1, type: 'step', t: 1, seq: 0, epoch: 1, step: 1, epoch_step: 1, steps_per_epoch: 3, loss: 1, acc: 0.5, lr: 0.001, img_per_s: 100 };
    assert.ok(validate(sample), JSON.stringify(validate.errors));
    assert.equal(eventErrors(sample), '');
    assert.equal(validate({ ...sample, acc: 2 }), false);
    assert.notEqual(eventErrors({ ...sample, acc: 2 }), '');
  });

  it('phase events (train.compile): the start and end samples validate, a bad state or cache does not', () => {
    const start = { v: 1, type: 'phase', t: 1, seq: 2, name: 'compile', state: 'start', mode: 'default', backend: 'inductor', cache_dir: '/home/u/.cache/spike-studio/torch-compile' };
    const end = { ...start, seq: 4, state: 'end', ok: true, seconds: 41.8, cache: 'cold', graphs: 1 };
    for (const e of [start, end, { ...end, ok: false, cache: 'none', cache_dir: null }, { v: 1, type: 'phase', t: 1, seq: 0, name: 'some-future-phase', state: 'start' }]) {
      assert.ok(validate(e), JSON.stringify(validate.errors));
      assert.equal(eventErrors(e), '');
    }
    assert.equal(validate({ ...end, state: 'running' }), false);
    assert.equal(validate({ ...end, cache: 'hot' }), false);
    assert.equal(validate({ ...end, seconds: -1 }), false);
    const { name: _name, ...noName } = start;
    assert.equal(validate(noName), false);
  });

  it('attention events: the optional kind (map, token / column / channel mask) validates, matches the TS type, and an unknown kind does not', () => {
    const schema = JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8'));
    assert.deepEqual([...ATTENTION_KINDS].sort(), [...schema.definitions.attention.properties.kind.enum].sort());
    const map = { v: 1, type: 'attention', t: 1, seq: 3, epoch: 1, step: 10, block: 0, head: 0, time_step: 0, sample: 0, grid: [2, 2], map_b64: Buffer.alloc(16).toString('base64'), scale: 1 };
    const token = { ...map, kind: 'token_mask', map_b64: Buffer.alloc(4).toString('base64') };
    const column = { ...map, kind: 'column_mask', grid: [1, 8], map_b64: Buffer.alloc(8).toString('base64') };
    const channel = { ...column, kind: 'channel_mask' };
    for (const e of [map, { ...map, kind: 'map' }, token, column, channel]) {
      assert.ok(validate(e), JSON.stringify(validate.errors));
      assert.equal(eventErrors(e), '');
    }
    assert.equal(validate({ ...map, kind: 'mask' }), false);
    assert.equal(validate({ ...map, kind: 3 }), false);
  });

  it('the mask fixtures (real QKFormer / SDT runs) carry the kinds the attention panel draws', () => {
    const kinds = (f: string) => new Set(fs.readFileSync(path.join(EVENTS_DIR, f), 'utf8').split('\n').filter((l) => l.trim())
      .map((l) => JSON.parse(l)).filter((e) => e.type === 'attention').map((e) => `${e.kind}:${e.grid.join('x')}:${Buffer.from(e.map_b64, 'base64').length}`));
    assert.deepEqual([...kinds('mask-qkformer-run.jsonl')].sort(), ['map:4x4:256', 'token_mask:16x16:256', 'token_mask:8x8:64']);
    assert.deepEqual([...kinds('mask-sdt-run.jsonl')], ['column_mask:1x16:16']);
  });

  it('phase is one of the protocol\'s event types, parsed as an event and ignored by the run summary', () => {
    const schema = JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8'));
    assert.deepEqual([...RUNTIME_EVENT_TYPES].sort(), [...schema.properties.type.enum].sort());
    const lines = [
      { v: 1, type: 'hello', t: 1, seq: 0, runtime_version: '0', python: '3', torch: '2', device: 'cpu', gpu: null, pid: 1, run_dir: '/r' },
      { v: 1, type: 'phase', t: 2, seq: 1, name: 'compile', state: 'start', mode: 'default', backend: 'inductor', cache_dir: '/c' },
      { v: 1, type: 'phase', t: 50, seq: 2, name: 'compile', state: 'end', ok: true, seconds: 48, cache: 'cold', cache_dir: '/c', graphs: 1 },
      { v: 1, type: 'step', t: 51, seq: 3, epoch: 1, step: 1, epoch_step: 1, steps_per_epoch: 3, loss: 1, lr: 0.001, img_per_s: 100 },
    ];
    const parsed = classifyLine(JSON.stringify(lines[2]));
    assert.equal(parsed?.kind, 'event');
    const { events, skipped } = parseEventsText(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    assert.equal(skipped, 0);
    assert.deepEqual(events.map((e) => e.type), ['hello', 'phase', 'phase', 'step']);
    const end = events[2];
    assert.ok(end.type === 'phase' && end.state === 'end' && end.cache === 'cold' && end.seconds === 48);
    const summary = summarizeRun(events);
    assert.equal(summary.steps, 1);
    assert.equal(summary.doneStatus, null);
  });

  for (const file of eventFixtures()) {
    it(`every line of test/fixtures/events/${file}`, () => {
      const lines = fs.readFileSync(path.join(EVENTS_DIR, file), 'utf8').split('\n').filter((l) => l.trim() !== '');
      assert.ok(lines.length > 0);
      lines.forEach((line, i) => {
        assert.ok(validate(JSON.parse(line)), `${file}:${i + 1}: ${JSON.stringify(validate.errors)}`);
        assert.equal(eventErrors(JSON.parse(line)), '', `${file}:${i + 1}`);
      });
    });
  }
});

describe('protocol: one source (events.schema.json) for the TypeScript and Python event tables', () => {
  it('the generated files are up to date; regenerate with node scripts/gen-protocol.mjs', function () {
    this.timeout(60000);
    try {
      execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'gen-protocol.mjs'), '--check'], { stdio: 'pipe' });
    } catch (err) {
      assert.fail(String((err as { stderr?: Buffer }).stderr ?? err));
    }
  });

  it('each event is checked against its own type: an undeclared field, a field of another type or an unknown type fails', () => {
    const step = { v: 1, type: 'step', t: 1, seq: 0, epoch: 1, step: 1, epoch_step: 1, steps_per_epoch: 3, loss: 1, lr: 0.001, img_per_s: 100 };
    assert.equal(eventErrors(step), '');
    assert.match(eventErrors({ ...step, top1: 0.5 }), /^step: .*top1/);
    assert.match(eventErrors({ ...step, surprise: 1 }), /surprise/);
    assert.match(eventErrors({ ...step, type: 'eval' }), /^eval: /);
    assert.match(eventErrors({ ...step, type: 'bogus' }), /unknown event type/);
    const { seq: _seq, ...noSeq } = step;
    assert.match(eventErrors(noSeq), /seq/);
  });

  it('every event the fake runtime of the unit tests prints (train, a failing train, eval) is valid for its type', function () {
    if (!hasPython()) this.skip();
    const dir = tempDir();
    try {
      const config = path.join(dir, 'config.resolved.json');
      fs.writeFileSync(config, JSON.stringify({ model: { arch: 'spikformer', time_steps: 4, num_classes: 10 } }));
      for (const [mode, args] of [['ok', ['train', '--config', config, '--run-dir', dir]], ['fail', ['train', '--config', config, '--run-dir', dir]], ['ok', ['eval']]] as const) {
        const run = spawnSync('python3', ['-m', 'spikestudio', ...args], { env: { ...process.env, PYTHONPATH: FAKE_RUNTIME, FAKE_MODE: mode }, encoding: 'utf8' });
        const events = run.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
        assert.ok(events.length >= 3, `${mode} ${args[0]}: ${run.stderr}`);
        for (const e of events) assert.equal(eventErrors(e), '', `${mode} ${args[0]}: ${JSON.stringify(e)}`);
      }
    } finally {
      removeDir(dir);
    }
  });
});
