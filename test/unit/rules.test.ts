// Every semantic rule (and the structural checks with quick fixes) has a failing and a passing fixture in
// test/fixtures/rules/<code>.{bad,good}.spike.yaml. Header comments of a bad fixture:
//   # expect: <dotted key> [<code, when not the file's rule code>]   the diagnostic and where it must point
//   # fix: <text>                                                   the quick fix's replacement
//   # options: {json}                                               extra loadConfig options (gpuMemoryMb)

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type LoadConfigOptions, loadConfig, SEMANTIC_RULES } from '../../src/core/config';
import { parseYamlWithRanges } from '../../src/core/config/parse';
import { FIXTURES } from './helpers';

const RULES_DIR = path.join(FIXTURES, 'rules');

function header(text: string, key: string): string | undefined {
  return text.match(new RegExp(`^# ${key}: (.*)$`, 'm'))?.[1].trim();
}

function load(file: string) {
  const text = fs.readFileSync(file, 'utf8');
  const options: LoadConfigOptions = JSON.parse(header(text, 'options') ?? '{}');
  return { text, result: loadConfig(text, file, options) };
}

const codes = fs
  .readdirSync(RULES_DIR)
  .filter((f) => f.endsWith('.bad.spike.yaml'))
  .map((f) => f.replace('.bad.spike.yaml', ''))
  .sort();

describe('rules: bad/good fixtures', () => {
  it('every semantic rule has fixtures', () => {
    for (const rule of SEMANTIC_RULES) assert.ok(codes.includes(rule.code), `missing test/fixtures/rules/${rule.code}.bad.spike.yaml`);
  });

  for (const code of codes) {
    it(`${code}: the bad fixture reports it at the key, the good one reports nothing`, () => {
      const bad = load(path.join(RULES_DIR, `${code}.bad.spike.yaml`));
      const [expectPath, expectCode = code] = (header(bad.text, 'expect') ?? '').split(/\s+/);
      assert.ok(expectPath, 'the bad fixture needs "# expect: <key>"');
      const found = bad.result.diagnostics.filter((d) => d.code === expectCode);
      assert.equal(found.length, 1, `expected one ${expectCode}: ${JSON.stringify(bad.result.diagnostics, null, 1)}`);
      const d = found[0];
      assert.equal(d.path, expectPath);
      const written = parseYamlWithRanges(bad.text).ranges.get(expectPath);
      assert.ok(written, `${expectPath} must be written in the bad fixture`);
      const where = code === 'unknown-key' ? written.key : written.value;
      assert.deepEqual(d.range, where, 'range');
      assert.match(d.message, new RegExp(expectPath.split('.').pop() as string), 'the message names the key');
      const fix = header(bad.text, 'fix');
      if (fix !== undefined) {
        assert.ok(d.fix, 'a quick fix');
        assert.equal(d.fix.replaceWith, fix);
        assert.equal(d.fix.path, expectPath);
        assert.deepEqual(d.fix.range, where);
      }

      const good = load(path.join(RULES_DIR, `${code}.good.spike.yaml`));
      assert.deepEqual(good.result.diagnostics, [], 'the good fixture');
      assert.ok(good.result.resolved);
    });
  }
});

describe('rules: details', () => {
  const cfg = (body: string, opts: LoadConfigOptions = {}) => loadConfig(body, '/w/x.spike.yaml', { checkPaths: false, ...opts });

  it('a fix for a value that comes from the preset has no range (the extension adds the key)', () => {
    const { diagnostics } = cfg('extends: spikformer-tiny/mnist\ndata:\n  dataset: cifar10\n');
    const d = diagnostics.find((x) => x.code === 'in-channels-dataset');
    assert.ok(d?.fix);
    assert.equal(d.fix.replaceWith, '3');
    assert.equal(d.fix.range, null);
    assert.match(d.message, /comes from preset "spikformer-tiny\/mnist"/);
  });

  it('heads fix: the nearest divisor', () => {
    const { diagnostics } = cfg('extends: spikformer-4-384/cifar10\nmodel:\n  num_heads: 10\n');
    assert.equal(diagnostics.find((x) => x.code === 'heads-divide-dim')?.fix?.replaceWith, '12');
  });

  it('memory rule: skipped without gpuMemoryMb or on cpu; names the largest batch that fits', () => {
    const text = 'extends: spikingformer-8-768/imagenet\n';
    assert.equal(cfg(text).diagnostics.filter((d) => d.code === 'gpu-memory').length, 0);
    assert.equal(cfg(text + 'train:\n  device: cpu\n', { gpuMemoryMb: 1000 }).diagnostics.filter((d) => d.code === 'gpu-memory').length, 0);
    const d = cfg(text, { gpuMemoryMb: 16000 }).diagnostics.find((x) => x.code === 'gpu-memory');
    assert.ok(d?.fix);
    assert.match(d.message, new RegExp(`largest batch that fits is about ${d.fix.replaceWith}`));
  });

  it('memory rule follows train.checkpoint_blocks / temporal_grad: a larger batch fits and the hint is dropped once on', () => {
    const text = 'extends: spikingformer-8-768/imagenet\n';
    const fixOf = (t: string) => Number(cfg(t, { gpuMemoryMb: 16000 }).diagnostics.find((x) => x.code === 'gpu-memory')?.fix?.replaceWith);
    const plain = cfg(text, { gpuMemoryMb: 16000 }).diagnostics.find((x) => x.code === 'gpu-memory');
    assert.match(plain?.message ?? '', /train\.checkpoint_blocks: true/);
    const ckpt = cfg(text + 'train:\n  checkpoint_blocks: true\n', { gpuMemoryMb: 16000 }).diagnostics.find((x) => x.code === 'gpu-memory');
    assert.ok(ckpt === undefined || Number(ckpt.fix?.replaceWith) > fixOf(text));
    assert.doesNotMatch(ckpt?.message ?? '', /checkpoint_blocks: true/);
    const sltt = fixOf(text + 'data:\n  batch_size: 4096\ntrain:\n  temporal_grad: sltt\n');
    assert.ok(sltt > fixOf(text), `${sltt}`);
  });

  it('frames_number on a static dataset is a warning; on an event dataset it must equal T', () => {
    assert.ok(cfg('extends: spikformer-tiny/mnist\ndata:\n  frames_number: 4\n').diagnostics.some((d) => d.code === 'event-frames' && d.severity === 'warning'));
    const dvs = cfg('extends: spikingformer-2-256-t16/dvs128-gesture\ndata:\n  frames_number: 10\n');
    assert.ok(dvs.diagnostics.some((d) => d.code === 'event-frames' && d.severity === 'error'));
  });

  it('every bundled preset of an architecture the definition knows passes every rule', () => {
    const { BUNDLED_PRESETS, CONFIG_DEFINITION } = require('../../src/core/config') as typeof import('../../src/core/config');
    const archs: readonly unknown[] = CONFIG_DEFINITION.model.fields.arch.values;
    for (const name of Object.keys(BUNDLED_PRESETS).filter((n) => archs.includes(BUNDLED_PRESETS[n].model?.arch))) {
      const { diagnostics } = cfg(`extends: ${name}\n`);
      assert.deepEqual(diagnostics, [], name);
    }
  });
});

describe('schemas/spike-config.schema.json (drift check)', () => {
  it('equals generateJsonSchema({mode: "file"}); regenerate with node scripts/gen-config-schema.mjs', () => {
    const { generateJsonSchema } = require('../../src/core/config') as typeof import('../../src/core/config');
    const fresh = JSON.stringify(generateJsonSchema({ mode: 'file' }), null, 2) + '\n';
    // the editor's copy (yamlValidation) and the runtime's (its defaults and allowed values)
    for (const rel of ['schemas/spike-config.schema.json', 'runtime/spikestudio/schemas/spike-config.schema.json']) {
      const file = path.join(FIXTURES, '..', '..', rel);
      assert.ok(fs.existsSync(file), `${rel} is missing: run node scripts/gen-config-schema.mjs`);
      assert.equal(fs.readFileSync(file, 'utf8'), fresh, `${rel} is stale: run node scripts/gen-config-schema.mjs`);
    }
  });

  it('every rule fixture is valid against the shipped schema (the schema knows every key the rules use)', () => {
    const Ajv = require('ajv').default;
    const { parse } = require('yaml');
    const file = path.join(FIXTURES, '..', '..', 'schemas', 'spike-config.schema.json');
    const validate = new Ajv({ strict: false }).compile(JSON.parse(fs.readFileSync(file, 'utf8')));
    for (const f of fs.readdirSync(RULES_DIR).filter((x) => x.endsWith('.good.spike.yaml'))) {
      assert.ok(validate(parse(fs.readFileSync(path.join(RULES_DIR, f), 'utf8'))), `${f}: ${JSON.stringify(validate.errors)}`);
    }
  });
});

describe('init-from-checkpoint: the sidecar import-checkpoint writes beside a converted checkpoint', () => {
  const file = path.join(RULES_DIR, 'init-from-checkpoint.bad.spike.yaml');

  it('a reference-layout STSA checkpoint in the paper layout: an error on init_from whose quick fix sets qkv_layout', () => {
    const { diagnostics } = loadConfig(fs.readFileSync(file, 'utf8'), file);
    const d = diagnostics.find((x) => x.code === 'init-from-checkpoint');
    assert.ok(d, JSON.stringify(diagnostics));
    assert.equal(d.severity, 'error');
    assert.match(d.message, /qkv_layout: reference/);
    assert.match(d.message, /ppppps\/STSA_4_Asyn_SNN/);
    assert.deepEqual(d.fix && { path: d.fix.path, replaceWith: d.fix.replaceWith, range: d.fix.range }, { path: 'model.qkv_layout', replaceWith: 'reference', range: null });
  });

  it('weights of another architecture: an error whose quick fix sets model.arch', () => {
    const text = 'extends: spikformer-tiny/mnist\nmodel:\n  init_from: checkpoints/stsa-reference.pth\n';
    const d = loadConfig(text, file).diagnostics.find((x) => x.code === 'init-from-checkpoint');
    assert.ok(d);
    assert.match(d.message, /holds stsa weights/);
    assert.equal(d.fix?.path, 'model.arch');
    assert.equal(d.fix?.replaceWith, 'stsa');
  });

  it('no sidecar, or checkPaths off: nothing to say', () => {
    const text = 'extends: stsa-2-256-t10/dvs128-gesture\nmodel:\n  init_from: init-from-checkpoint.good.spike.yaml\n';
    assert.deepEqual(loadConfig(text, file).diagnostics.filter((x) => x.code === 'init-from-checkpoint'), []);
    const off = loadConfig(fs.readFileSync(file, 'utf8'), file, { checkPaths: false });
    assert.deepEqual(off.diagnostics.filter((x) => x.code === 'init-from-checkpoint'), []);
  });
});
