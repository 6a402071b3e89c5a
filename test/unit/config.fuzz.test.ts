// 1,000 mutated configs through loadConfig and the authoring helpers (hoverAt, completionsAt): no exceptions,
// every diagnostic range inside the document. Seeded, so a failure reproduces (the message names the case).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { completionsAt, hoverAt, loadConfig } from '../../src/core/config';
import { REPO_ROOT } from './helpers';

/** mulberry32: a small seeded PRNG */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PRESETS = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'runtime', 'spikestudio', 'presets', 'presets.json'), 'utf8')) as Record<string, Record<string, unknown>>;
const PRESET_NAMES = Object.keys(PRESETS);

function bases(): string[] {
  const texts = [
    fs.readFileSync(path.join(REPO_ROOT, 'examples', 'mnist-spikformer.spike.yaml'), 'utf8'),
    fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'configs', 'valid.spike.yaml'), 'utf8'),
    fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'configs', 'malformed.spike.yaml'), 'utf8'),
  ];
  // several presets written out in full (every section), as a user who copied one would have it
  for (const name of [PRESET_NAMES[0], PRESET_NAMES[1], PRESET_NAMES.find((n) => n.includes('dvs')), PRESET_NAMES.find((n) => n.includes('imagenet')), PRESET_NAMES.at(-1)]) {
    if (!name) continue;
    const { model, data, train } = PRESETS[name];
    texts.push(YAML.stringify({ extends: name, name: `from-${name.replace('/', '-')}`, model, data, train }));
  }
  return texts;
}

const GARBAGE: unknown[] = [
  null, true, false, 0, -1, 1e308, -1e308, 9007199254740993, 1e-320, Number.MAX_SAFE_INTEGER, '', ' ', 'NaN', '.inf', '-.inf',
  '∞', 'ñandú 🧠 ⚡', '\u202e\u0000x', 'a'.repeat(5000), [], [1, [2, [3]]], {}, { nested: { deeper: { deepest: [null] } } }, '~', '0x1F', '1_000', '2025-01-01',
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function deepNest(r: () => number, depth: number): unknown {
  return depth === 0 ? pick(r, GARBAGE) : { [`k${Math.floor(r() * 5)}`]: deepNest(r, depth - 1) };
}

/** Mutates a parsed config object in place at random paths. */
function mutateObject(r: () => number, value: Record<string, unknown>, n: number): void {
  for (let i = 0; i < n; i++) {
    let node: Record<string, unknown> = value;
    for (let depth = 0; depth < 3; depth++) {
      const keys = Object.keys(node);
      if (!keys.length) break;
      const key = pick(r, keys);
      const child = node[key];
      if (child && typeof child === 'object' && !Array.isArray(child) && r() < 0.6) {
        node = child as Record<string, unknown>;
        continue;
      }
      const op = r();
      if (op < 0.25) delete node[key];
      else if (op < 0.55) node[key] = pick(r, GARBAGE);
      else if (op < 0.7) node[key] = typeof child === 'number' ? String(child) : typeof child === 'string' ? child.length : [child];
      else if (op < 0.8) node[key] = deepNest(r, 2 + Math.floor(r() * 40));
      else if (op < 0.9) node[`${key}${pick(r, ['_x', 'ü', ' ', '.'])}`] = child;
      else node[key] = typeof child === 'number' ? child * pick(r, [1e300, -1, 0, 1e-300, 3.5]) : pick(r, GARBAGE);
      break;
    }
  }
}

/** Text-level mutations: YAML features (anchors, aliases, duplicate keys, tags, flow style) and damage. */
function mutateText(r: () => number, text: string): string {
  const lines = text.split('\n');
  const op = r();
  const at = Math.floor(r() * (lines.length + 1));
  if (op < 0.1) return text.slice(0, Math.floor(r() * text.length)); // truncated
  if (op < 0.2) lines.splice(at, 0, 'model: &m { embed_dim: 64 }', 'data: *m', 'train: *undefined_alias');
  else if (op < 0.3) lines.splice(at, 0, lines[Math.max(0, at - 1)] ?? 'name: dup', lines[Math.max(0, at - 1)] ?? 'name: dup'); // duplicate keys
  else if (op < 0.4) lines.splice(at, 0, 'x: &a [*a]', '<<: {model: {depth: !!str 3}}', 'name: !!binary aGk=');
  else if (op < 0.5) lines.splice(at, 0, '\t  bad: indentation', '  - list', ': no key', '? complex key', ': value');
  else if (op < 0.6) lines.splice(at, 0, `train: {epochs: ${'['.repeat(60)}${']'.repeat(60)}}`);
  else if (op < 0.7) lines.splice(at, 0, 'ẽxtends: "ünïcödé/preset 🧠"', 'name: "\\u0000\\ud800"', '# 💥 comment');
  else if (op < 0.8) lines.splice(at, 0, 'model:', '  embed_dim: 1e999', '  num_heads: -0', '  depth: 99999999999999999999999');
  else if (op < 0.9) {
    const i = Math.floor(r() * text.length);
    return text.slice(0, i) + pick(r, ['"', "'", '{', '[', ':', '\r', '\r\n', '\u2028', '\\', '%YAML 9.9\n---\n', '---\n', '...\n']) + text.slice(i);
  } else lines.splice(at, 0, `extends: ${pick(r, [...PRESET_NAMES, 'nope/none', '', '[a, b]', '{x: 1}', '../../etc/passwd'])}`);
  return lines.join('\n');
}

function lineLengths(text: string): number[] {
  return text.split('\n').map((l) => l.length);
}

function assertRangeInside(range: { start: { line: number; character: number }; end: { line: number; character: number } }, lengths: number[], what: string): void {
  for (const [name, p] of [['start', range.start], ['end', range.end]] as const) {
    assert.ok(Number.isInteger(p.line) && p.line >= 0 && p.line < lengths.length, `${what}: ${name}.line ${p.line} outside 0..${lengths.length - 1}`);
    assert.ok(Number.isInteger(p.character) && p.character >= 0 && p.character <= lengths[p.line], `${what}: ${name}.character ${p.character} > line length ${lengths[p.line]}`);
  }
  const ordered = range.start.line < range.end.line || (range.start.line === range.end.line && range.start.character <= range.end.character);
  assert.ok(ordered, `${what}: start after end ${JSON.stringify(range)}`);
}

describe('config: 1,000 mutated configs (seeded fuzz)', function () {
  this.timeout(120_000);

  it('loadConfig, hoverAt and completionsAt never throw; diagnostic ranges stay inside the document', () => {
    const texts = bases();
    const cases = 1000;
    let withErrors = 0;
    for (let i = 0; i < cases; i++) {
      const r = rng(1000 + i);
      const base = texts[i % texts.length];
      let text: string;
      try {
        const obj = YAML.parse(base) as Record<string, unknown> | null;
        if (obj && typeof obj === 'object' && r() < 0.6) {
          mutateObject(r, obj, 1 + Math.floor(r() * 4));
          text = YAML.stringify(obj, { aliasDuplicateObjects: false });
        } else {
          text = base;
        }
      } catch {
        text = base;
      }
      for (let k = 0, n = 1 + Math.floor(r() * 3); k < n; k++) if (r() < 0.7) text = mutateText(r, text);
      const what = `case ${i} (seed ${1000 + i})`;
      let result;
      try {
        result = loadConfig(text, `/ws/case-${i}.spike.yaml`, { checkPaths: false });
      } catch (error) {
        assert.fail(`${what}: loadConfig threw ${String(error)}\n---\n${text.slice(0, 2000)}`);
      }
      const lengths = lineLengths(text);
      if (result.diagnostics.some((d) => d.severity === 'error')) withErrors++;
      else assert.ok(result.resolved, `${what}: no errors but no resolved config`);
      for (const d of result.diagnostics) {
        assert.equal(typeof d.message, 'string');
        assert.ok(d.message.length > 0, `${what}: empty message`);
        assertRangeInside(d.range, lengths, `${what} ${d.code} "${d.message}"`);
      }
      for (let p = 0; p < 3; p++) {
        const line = Math.floor(r() * (lengths.length + 1)); // sometimes one past the end
        const character = Math.floor(r() * ((lengths[line] ?? 0) + 2));
        try {
          const hover = hoverAt(text, `/ws/case-${i}.spike.yaml`, line, character);
          if (hover) assert.equal(typeof hover.markdown, 'string');
          const items = completionsAt(text, line, character);
          assert.ok(Array.isArray(items));
        } catch (error) {
          assert.fail(`${what}: hoverAt/completionsAt(${line}, ${character}) threw ${error instanceof Error ? error.stack : String(error)}\n---\n${text.slice(0, 2000)}`);
        }
      }
    }
    // the mutations do produce bad configs (and some good ones survive)
    assert.ok(withErrors > 200 && withErrors < cases, `withErrors = ${withErrors}`);
  });
});
