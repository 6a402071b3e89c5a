// Closed-form model description: the same layer list as `python -m spikestudio describe` (runtime/spikestudio/
// describe.py) for Spikformer and Spikingformer, computed from the model section alone (no Python, no torch),
// plus derived numbers for hovers and rules: tokens, dense FLOPs, SOPs/energy at a firing rate (spec §6) and a
// rough training-memory estimate.
//
// Conventions (identical to describe.py):
// * shapes are per time step without the batch dimension; layers the forward never calls (reference_compat's
//   LayerNorms) have no shapes and come last, in module order, followed by root parameters (pos_embed);
// * params: the layer's own parameters; flops: dense MACs per time step of the layer itself (conv
//   k·k·Cin·Cout·Ho·Wo, linear tokens·in·out (+ tokens·out with bias), ssa h·2·N·d·min(N, d)); composites 0;
// * spiking: the layer's input is binary spikes (the model's `spiking_inputs()`), lif layers always true.

import { CONFIG_DEFINITION } from '../config/definition';

export type LayerKind = 'conv' | 'bn' | 'lif' | 'pool' | 'linear' | 'ssa' | 'mlp' | 'block' | 'add' | 'other';

export interface LayerInfo {
  name: string;
  kind: LayerKind;
  shape_in?: number[];
  shape_out?: number[];
  params: number;
  flops: number;
  spiking: boolean;
}

export interface ModelPrediction {
  arch: string;
  variant: string;
  params: number;
  time_steps: number;
  num_classes: number;
  token_grid: [number, number];
  layers: LayerInfo[];
}

/** The model keys the prediction depends on (a resolved `model` section has them all; missing ones take defaults). */
export interface ModelShapeInput {
  arch?: string;
  variant?: string;
  embed_dim?: number;
  num_heads?: number;
  depth?: number;
  mlp_ratio?: number;
  time_steps?: number;
  in_channels?: number;
  num_classes?: number;
  img_size?: number | [number, number];
  reference_compat?: boolean;
  [key: string]: unknown;
}

export const SUPPORTED_ARCHS = ['spikformer', 'spikingformer'] as const;
export const SUPPORTED_VARIANTS = ['cifar', 'imagenet', 'dvs'] as const;

/** Tokenizer max-pools (stage by stage) per code variant; same for both architectures. */
export const TOKENIZER_POOLS: Readonly<Record<string, readonly boolean[]>> = {
  cifar: [false, false, true, true],
  imagenet: [true, true, true, true],
  dvs: [true, true, true, true],
};

/** The overall downsampling of the tokenizer: an img_size divisible by it gives an exact token grid. */
export function poolingFactor(variant: string): number {
  return 2 ** (TOKENIZER_POOLS[variant] ?? TOKENIZER_POOLS.cifar).filter(Boolean).length;
}

/** Output side of MaxPool2d(3, 2, 1). */
export function pooled(n: number): number {
  return Math.floor((n - 1) / 2) + 1;
}

export class ArchError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

interface Norm {
  arch: string;
  variant: string;
  D: number;
  heads: number;
  depth: number;
  hidden: number;
  T: number;
  cin: number;
  classes: number;
  h: number;
  w: number;
  compat: boolean;
}

const MODEL_FIELDS = CONFIG_DEFINITION.model.fields;

function normalize(m: ModelShapeInput): Norm {
  const pick = <K extends keyof typeof MODEL_FIELDS>(key: K): unknown => (m[key as string] ?? (MODEL_FIELDS[key] as { default: unknown }).default);
  const arch = String(pick('arch'));
  const variant = String(pick('variant'));
  if (!(SUPPORTED_ARCHS as readonly string[]).includes(arch)) throw new ArchError('model.arch', `unknown architecture "${arch}"`);
  if (!TOKENIZER_POOLS[variant]) throw new ArchError('model.variant', `unknown variant "${variant}"`);
  const int = (key: 'embed_dim' | 'num_heads' | 'depth' | 'time_steps' | 'in_channels' | 'num_classes'): number => {
    const v = pick(key);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ArchError(`model.${key}`, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const D = int('embed_dim');
  const heads = int('num_heads');
  if (D % 8 !== 0) throw new ArchError('model.embed_dim', `must be a multiple of 8, got ${D}`);
  if (D % heads !== 0) throw new ArchError('model.num_heads', `must divide embed_dim (${D}), got ${heads}`);
  const ratio = pick('mlp_ratio');
  if (typeof ratio !== 'number' || !(ratio > 0)) throw new ArchError('model.mlp_ratio', `must be a number > 0, got ${JSON.stringify(ratio)}`);
  const hidden = Math.trunc(D * ratio); // Python int(D * mlp_ratio)
  if (hidden < 1) throw new ArchError('model.mlp_ratio', 'gives an empty MLP hidden layer');
  const img = pick('img_size');
  let h: number;
  let w: number;
  if (Array.isArray(img) && img.length === 2) [h, w] = img as [number, number];
  else h = w = img as number;
  if (![h, w].every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1)) throw new ArchError('model.img_size', `must be a positive integer, got ${JSON.stringify(img)}`);
  return {
    arch,
    variant,
    D,
    heads,
    depth: int('depth'),
    hidden,
    T: int('time_steps'),
    cin: int('in_channels'),
    classes: int('num_classes'),
    h,
    w,
    compat: pick('reference_compat') === true,
  };
}

// ---------------------------------------------------------------------------------------------
// Layer builders

class Builder {
  readonly layers: LayerInfo[] = [];
  constructor(private readonly spikingNames: Set<string>) {}

  push(name: string, kind: LayerKind, shapeIn: number[] | undefined, shapeOut: number[] | undefined, params: number, flops: number): void {
    const layer: LayerInfo = { name, kind, params, flops, spiking: kind === 'lif' || this.spikingNames.has(name) };
    if (shapeIn) layer.shape_in = shapeIn;
    if (shapeOut) layer.shape_out = shapeOut;
    this.layers.push(layer);
  }

  conv(name: string, cin: number, cout: number, h: number, w: number): void {
    this.push(name, 'conv', [cin, h, w], [cout, h, w], 9 * cin * cout, 9 * cin * cout * h * w);
  }

  bn(name: string, shape: number[]): void {
    const channels = shape.length === 3 ? shape[0] : shape[shape.length - 1]; // (C, H, W) or (N, D)
    this.push(name, 'bn', shape, shape, 2 * channels, 0);
  }

  lif(name: string, shape: number[]): void {
    this.push(name, 'lif', shape, shape, 0, 0);
  }

  pool(name: string, c: number, h: number, w: number): [number, number] {
    const ho = pooled(h);
    const wo = pooled(w);
    this.push(name, 'pool', [c, h, w], [c, ho, wo], 0, 0);
    return [ho, wo];
  }

  linear(name: string, tokens: number | null, fin: number, fout: number, bias: boolean): void {
    const shapeIn = tokens === null ? [fin] : [tokens, fin];
    const shapeOut = tokens === null ? [fout] : [tokens, fout];
    const params = fin * fout + (bias ? fout : 0);
    this.push(name, 'linear', shapeIn, shapeOut, params, (tokens ?? 1) * params);
  }

  add(name: string, shape: number[]): void {
    this.push(name, 'add', shape, shape, 0, 0);
  }
}

function ssaFlops(heads: number, N: number, D: number): number {
  const d = D / heads;
  return heads * 2 * N * d * Math.min(N, d);
}

function spikformerLayers(n: Norm): { layers: LayerInfo[]; grid: [number, number] } {
  const pools = TOKENIZER_POOLS[n.variant];
  const spiking = new Set<string>(['tokenizer.stages.1.conv', 'tokenizer.stages.2.conv', 'tokenizer.stages.3.conv', 'tokenizer.rpe.conv', 'tokenizer.rpe_add']);
  pools.forEach((p, i) => p && spiking.add(`tokenizer.stages.${i}.pool`));
  for (let j = 0; j < n.depth; j++) spiking.add(`blocks.${j}.attn.proj`).add(`blocks.${j}.mlp.fc2`);
  const b = new Builder(spiking);
  const chans = [n.cin, n.D / 8, n.D / 4, n.D / 2, n.D];
  let h = n.h;
  let w = n.w;
  for (let i = 0; i < 4; i++) {
    const p = `tokenizer.stages.${i}`;
    b.conv(`${p}.conv`, chans[i], chans[i + 1], h, w);
    b.bn(`${p}.bn`, [chans[i + 1], h, w]);
    b.lif(`${p}.lif`, [chans[i + 1], h, w]);
    if (pools[i]) [h, w] = b.pool(`${p}.pool`, chans[i + 1], h, w);
  }
  b.conv('tokenizer.rpe.conv', n.D, n.D, h, w);
  b.bn('tokenizer.rpe.bn', [n.D, h, w]);
  b.lif('tokenizer.rpe.lif', [n.D, h, w]);
  b.add('tokenizer.rpe_add', [n.D, h, w]);
  const N = h * w;
  const tok = [N, n.D];
  const qkvBias = n.variant === 'cifar';
  for (let j = 0; j < n.depth; j++) {
    const p = `blocks.${j}`;
    b.push(p, 'block', tok, tok, 0, 0);
    b.push(`${p}.attn`, 'ssa', tok, tok, 0, ssaFlops(n.heads, N, n.D));
    for (const q of ['q', 'k', 'v']) {
      b.linear(`${p}.attn.${q}_proj`, N, n.D, n.D, qkvBias);
      b.bn(`${p}.attn.${q}_bn`, tok);
      b.lif(`${p}.attn.${q}_lif`, tok);
    }
    b.lif(`${p}.attn.attn_lif`, tok);
    b.linear(`${p}.attn.proj`, N, n.D, n.D, true);
    b.bn(`${p}.attn.proj_bn`, tok);
    b.lif(`${p}.attn.proj_lif`, tok);
    b.add(`${p}.add1`, tok);
    b.push(`${p}.mlp`, 'mlp', tok, tok, 0, 0);
    b.linear(`${p}.mlp.fc1`, N, n.D, n.hidden, true);
    b.bn(`${p}.mlp.fc1_bn`, [N, n.hidden]);
    b.lif(`${p}.mlp.fc1_lif`, [N, n.hidden]);
    b.linear(`${p}.mlp.fc2`, N, n.hidden, n.D, true);
    b.bn(`${p}.mlp.fc2_bn`, tok);
    b.lif(`${p}.mlp.fc2_lif`, tok);
    b.add(`${p}.add2`, tok);
  }
  b.push('pool', 'pool', tok, [n.D], 0, 0);
  b.linear('head', null, n.D, n.classes, true);
  if (n.compat) {
    for (let j = 0; j < n.depth; j++) {
      b.push(`blocks.${j}.norm1`, 'other', undefined, undefined, 2 * n.D, 0);
      b.push(`blocks.${j}.norm2`, 'other', undefined, undefined, 2 * n.D, 0);
    }
    if (n.variant === 'dvs') {
      b.push('norm', 'other', undefined, undefined, 2 * n.D, 0);
      b.push('pos_embed', 'other', undefined, undefined, N * n.D, 0);
    }
  }
  return { layers: b.layers, grid: [h, w] };
}

function spikingformerLayers(n: Norm): { layers: LayerInfo[]; grid: [number, number] } {
  const pools = TOKENIZER_POOLS[n.variant];
  const spiking = new Set<string>();
  pools.forEach((p, i) => {
    spiking.add(`tokenizer.stages.${i}.conv`);
    if (p) spiking.add(`tokenizer.stages.${i}.pool`);
  });
  for (let j = 0; j < n.depth; j++) {
    for (const s of ['q_proj', 'k_proj', 'v_proj', 'proj']) spiking.add(`blocks.${j}.attn.${s}`);
    spiking.add(`blocks.${j}.mlp.fc1`).add(`blocks.${j}.mlp.fc2`);
  }
  const b = new Builder(spiking);
  const chans = [n.D / 8, n.D / 4, n.D / 2, n.D, n.D];
  let h = n.h;
  let w = n.w;
  b.conv('tokenizer.stem.conv', n.cin, chans[0], h, w);
  b.bn('tokenizer.stem.bn', [chans[0], h, w]);
  for (let i = 0; i < 4; i++) {
    const p = `tokenizer.stages.${i}`;
    b.lif(`${p}.lif`, [chans[i], h, w]);
    if (pools[i]) [h, w] = b.pool(`${p}.pool`, chans[i], h, w);
    b.conv(`${p}.conv`, chans[i], chans[i + 1], h, w);
    b.bn(`${p}.bn`, [chans[i + 1], h, w]);
  }
  const N = h * w;
  const tok = [N, n.D];
  for (let j = 0; j < n.depth; j++) {
    const p = `blocks.${j}`;
    b.push(p, 'block', tok, tok, 0, 0);
    b.push(`${p}.attn`, 'ssa', tok, tok, 0, ssaFlops(n.heads, N, n.D));
    b.lif(`${p}.attn.in_lif`, tok);
    for (const q of ['q', 'k', 'v']) {
      b.linear(`${p}.attn.${q}_proj`, N, n.D, n.D, false);
      b.bn(`${p}.attn.${q}_bn`, tok);
      b.lif(`${p}.attn.${q}_lif`, tok);
    }
    b.lif(`${p}.attn.attn_lif`, tok);
    b.linear(`${p}.attn.proj`, N, n.D, n.D, true);
    b.bn(`${p}.attn.proj_bn`, tok);
    b.add(`${p}.add1`, tok);
    b.push(`${p}.mlp`, 'mlp', tok, tok, 0, 0);
    b.lif(`${p}.mlp.fc1_lif`, tok);
    b.linear(`${p}.mlp.fc1`, N, n.D, n.hidden, true);
    b.bn(`${p}.mlp.fc1_bn`, [N, n.hidden]);
    b.lif(`${p}.mlp.fc2_lif`, [N, n.hidden]);
    b.linear(`${p}.mlp.fc2`, N, n.hidden, n.D, true);
    b.bn(`${p}.mlp.fc2_bn`, tok);
    b.add(`${p}.add2`, tok);
  }
  b.push('pool', 'pool', tok, [n.D], 0, 0);
  b.linear('head', null, n.D, n.classes, true);
  if (n.compat) {
    for (let j = 0; j < n.depth; j++) {
      b.push(`blocks.${j}.norm1`, 'other', undefined, undefined, 2 * n.D, 0);
      b.push(`blocks.${j}.norm2`, 'other', undefined, undefined, 2 * n.D, 0);
    }
  }
  return { layers: b.layers, grid: [h, w] };
}

/**
 * The layer list `python -m spikestudio describe` prints for this model section (resolved or partial: missing
 * keys take the definition's defaults). Throws ArchError (naming the dotted key) for values the runtime rejects.
 */
export function predictModel(model: ModelShapeInput): ModelPrediction {
  const n = normalize(model);
  const { layers, grid } = n.arch === 'spikformer' ? spikformerLayers(n) : spikingformerLayers(n);
  return {
    arch: n.arch,
    variant: n.variant,
    params: layers.reduce((s, l) => s + l.params, 0),
    time_steps: n.T,
    num_classes: n.classes,
    token_grid: grid,
    layers,
  };
}

// ---------------------------------------------------------------------------------------------
// Derived numbers

/** Tokens N = rows · cols of the token grid. */
export function tokenCount(p: ModelPrediction): number {
  return p.token_grid[0] * p.token_grid[1];
}

/** Layers after the head's time mean (the top-level `pool`) run once per sample, not once per time step. */
function runsOncePerSample(p: ModelPrediction): Set<string> {
  const once = new Set<string>();
  const at = p.layers.findIndex((l) => l.name === 'pool' && l.kind === 'pool');
  if (at >= 0) for (const l of p.layers.slice(at + 1)) if (l.shape_in) once.add(l.name);
  return once;
}

/**
 * Dense MACs: per time step (Σ layer flops, describe's numbers) and per sample (the ANN-equivalent count: every
 * layer × T, except the head, which runs once on the time-averaged features).
 */
export function denseFlops(p: ModelPrediction): { perStep: number; total: number } {
  const once = runsOncePerSample(p);
  let perStep = 0;
  let total = 0;
  for (const l of p.layers) {
    perStep += l.flops;
    total += once.has(l.name) ? l.flops : l.flops * p.time_steps;
  }
  return { perStep, total };
}

export const E_MAC_PJ = 4.6;
export const E_AC_PJ = 0.9;
/** Firing rate assumed when no measured rates are given (typical trained Spikformer layer: 10–20 %). */
export const NOMINAL_FIRING_RATE = 0.15;

export interface EnergyOptions {
  /** rate used for any spiking input without a measured rate (default NOMINAL_FIRING_RATE) */
  rate?: number;
  /**
   * 'paper' (default): only the first conv (× T) and the head are MACs, every other weight layer is ACs at its
   * input rate — the papers' convention (Spikformer counts its integer residual stream as spikes).
   * 'strict': describe's `spiking` flags decide (spec §6.4: any non-binary input is MAC; matters for Spikformer,
   * whose q/k/v and fc1 read the integer residual stream).
   */
  counting?: 'paper' | 'strict';
  /** measured output rates of LIF layers by name (as in the protocol's `firing` events) */
  rates?: Readonly<Record<string, number>>;
}

export interface EnergyEstimate {
  /** MACs per sample (first conv × T, every weight layer with a non-binary input × T) */
  macs: number;
  /** synaptic operations (accumulates) per sample: Σ fr · T · FLOPs over spiking weight layers + SSA matmuls */
  sops: number;
  /** E_MAC · macs + E_AC · sops, in millijoules per sample */
  energy_mj: number;
  /** the rate used where nothing was measured */
  nominal_rate: number;
}

/**
 * Energy per spec §6 (counting: see EnergyOptions.counting). A layer's input rate is the output rate of the nearest preceding LIF in execution order; SSA
 * matmuls: T·h·N·d²·(min(fr_K, fr_V) + fr_Q) ACs. BN, LIF, pooling and residual adds are not counted.
 */
export function estimateEnergy(p: ModelPrediction, opts: EnergyOptions = {}): EnergyEstimate {
  const nominal = opts.rate ?? NOMINAL_FIRING_RATE;
  const measured = opts.rates ?? {};
  const rateOf = (name: string | null): number => (name !== null && typeof measured[name] === 'number' ? measured[name] : nominal);
  const T = p.time_steps;
  let macs = 0;
  let sops = 0;
  let lastLif: string | null = null;
  const N = tokenCount(p);
  const once = runsOncePerSample(p);
  const strict = opts.counting === 'strict';
  const firstConv = p.layers.find((l) => l.kind === 'conv')?.name;
  for (const layer of p.layers) {
    if (layer.kind === 'lif') {
      lastLif = layer.name;
      continue;
    }
    if (layer.kind === 'ssa') {
      const heads = ssaHeads(layer, N);
      const D = layer.shape_in ? layer.shape_in[1] : 0;
      const d = heads > 0 ? D / heads : 0;
      const fq = rateOf(`${layer.name}.q_lif`);
      const fk = rateOf(`${layer.name}.k_lif`);
      const fv = rateOf(`${layer.name}.v_lif`);
      sops += T * heads * N * d * d * (Math.min(fk, fv) + fq);
      continue;
    }
    if (layer.kind !== 'conv' && layer.kind !== 'linear') continue;
    const steps = once.has(layer.name) ? 1 : T;
    const accumulates = strict ? layer.spiking : layer.name !== firstConv && !once.has(layer.name);
    if (accumulates) sops += rateOf(lastLif) * steps * layer.flops;
    else macs += steps * layer.flops;
  }
  return { macs, sops, energy_mj: (E_MAC_PJ * macs + E_AC_PJ * sops) * 1e-9, nominal_rate: nominal };
}

/** Heads of an ssa layer, recovered from its flops (h·2·N·d·min(N, d) with d = D/h). */
function ssaHeads(layer: LayerInfo, N: number): number {
  const D = layer.shape_in ? layer.shape_in[1] : 0;
  for (let h = 1; h <= D; h++) {
    if (D % h === 0 && ssaFlops(h, N, D) === layer.flops) return h;
  }
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Training memory (rough)

/**
 * Rough factor on the raw activation volume. Autograd keeps, per listed layer and time step, its input and/or
 * output (conv/linear inputs, BN inputs and normalised outputs, the LIF's membrane potential and surrogate
 * input), so the stored volume is a small multiple of Σ |output|. Calibrated on the one published peak: the
 * Spikingformer-2-256 CIFAR10-DVS log (T = 16, batch 16, AMP) peaks at 3.4 GB (spec §3.4); factor 1.5 gives
 * 3.5 GB there. Expect ±50 % elsewhere: it is meant for "will this batch fit", not for capacity planning.
 */
export const ACTIVATION_FACTOR = 1.5;
/** CUDA context, cuDNN workspaces and allocator slack. */
export const MEMORY_OVERHEAD_MB = 500;

export interface MemoryEstimate {
  /** total, MB (1 MB = 2^20 bytes) */
  total_mb: number;
  activations_mb: number;
  /** weights + gradients + AdamW moments (fp32) */
  params_mb: number;
  overhead_mb: number;
  /** activation MB per sample of the batch (for "the largest batch that fits") */
  per_sample_mb: number;
}

/** Elements each layer stores per sample per time step (its output; composites and dead layers count 0). */
function storedElements(p: ModelPrediction): number {
  let total = 0;
  for (const l of p.layers) {
    if (!l.shape_out || l.kind === 'block' || l.kind === 'mlp' || l.kind === 'ssa' || l.kind === 'add') continue;
    total += l.shape_out.reduce((a, b) => a * b, 1);
  }
  return total;
}

/** Estimated peak GPU memory of training with `batch` samples of T steps: activations × T × batch × bytes × factor. */
export function estimateTrainingMemory(p: ModelPrediction, batch: number, opts: { amp?: boolean | string } = {}): MemoryEstimate {
  const bytes = opts.amp === 'fp16' || opts.amp === 'bf16' || opts.amp === true ? 2 : 4;
  const MB = 1024 * 1024;
  const perSample = (storedElements(p) * p.time_steps * bytes * ACTIVATION_FACTOR) / MB;
  const paramsMb = (p.params * 16) / MB;
  const activations = perSample * batch;
  return {
    total_mb: activations + paramsMb + MEMORY_OVERHEAD_MB,
    activations_mb: activations,
    params_mb: paramsMb,
    overhead_mb: MEMORY_OVERHEAD_MB,
    per_sample_mb: perSample,
  };
}

/** The largest batch whose estimate fits in `memoryMb` (0 when not even one sample fits). */
export function largestBatchThatFits(p: ModelPrediction, memoryMb: number, opts: { amp?: boolean | string } = {}): number {
  const m = estimateTrainingMemory(p, 0, opts);
  const free = memoryMb - m.params_mb - m.overhead_mb;
  if (free <= 0 || m.per_sample_mb <= 0) return 0;
  return Math.floor(free / m.per_sample_mb);
}

/** Short human numbers: 4.15 M, 1.2 G. */
export function formatCount(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (abs >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}
