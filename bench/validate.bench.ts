// npm run bench:validate — loadConfig time (median of N runs after a warm-up) for the shipped example and for a
// generated 500-line config (every key written, each with a comment, padded with comments; plus a variant whose
// extra lines are misspelled keys, the did-you-mean worst case). Goal: < 20 ms for the typical file.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { hoverAt, isSection, leafFields, loadConfig, type SectionSpec, CONFIG_DEFINITION, CONFIG_SECTIONS } from '../src/core/config';

const ROOT = path.resolve(__dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const WARMUP = 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function bench(label: string, fn: () => void): void {
  for (let i = 0; i < WARMUP; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  const p95 = [...times].sort((a, b) => a - b)[Math.floor(times.length * 0.95)];
  console.log(`${label.padEnd(58)} median ${median(times).toFixed(3)} ms   p95 ${p95.toFixed(3)} ms   (${RUNS} runs)`);
}

function generated(lines: number, typos: boolean): string {
  const out: string[] = ['# generated benchmark config', 'name: bench-500'];
  const walk = (section: SectionSpec, indent: string) => {
    for (const [key, spec] of Object.entries(section.fields)) {
      out.push(`${indent}# ${spec.description.replace(/\n/g, ' ')}`);
      if (isSection(spec)) {
        out.push(`${indent}${key}:`);
        walk(spec, indent + '  ');
      } else {
        out.push(`${indent}${key}: ${JSON.stringify(spec.default)}`);
      }
    }
  };
  for (const name of CONFIG_SECTIONS) {
    out.push(`${name}:`);
    walk(CONFIG_DEFINITION[name], '  ');
  }
  let i = 0;
  while (out.length < lines) {
    if (typos) out.push(`extra_${i}:`, `  lerning_rate_${i}: 0.001`);
    else out.push(`# padding comment line ${i}: ${'x'.repeat(40)}`);
    i++;
  }
  return out.slice(0, lines).join('\n') + '\n';
}

const example = path.join(ROOT, 'examples', 'mnist-spikformer.spike.yaml');
const exampleText = fs.readFileSync(example, 'utf8');
const big = generated(500, false);
const typos = generated(500, true);
const bigFile = path.join(ROOT, 'bench', 'generated-500.spike.yaml');

console.log(`keys in the definition: ${leafFields().length}; example ${exampleText.split('\n').length} lines; generated ${big.split('\n').length - 1} lines`);
bench('examples/mnist-spikformer.spike.yaml (loadConfig)', () => loadConfig(exampleText, example));
bench('examples/mnist-spikformer.spike.yaml (+ gpuMemoryMb rule)', () => loadConfig(exampleText, example, { gpuMemoryMb: 8192 }));
bench('generated 500 lines, all keys + comments (loadConfig)', () => loadConfig(big, bigFile));
bench('generated 500 lines, ~200 misspelled keys (loadConfig)', () => loadConfig(typos, bigFile));
bench('hoverAt on model.depth of a preset-based file', () => hoverAt('extends: spikformer-8-512/imagenet\nmodel:\n  depth: 8\n', null, 2, 3));
