// Closed-form model description: the same layer list as `python -m spikestudio describe` (runtime/spikestudio/
// describe.py) for Spikformer, Spikingformer, Spikeformer and STSA, computed from the model section alone (no Python, no torch),
// plus derived numbers for hovers and rules: tokens, dense FLOPs, SOPs/energy at a firing rate (spec §6) and a
// rough training-memory estimate.
//
// Conventions (identical to describe.py):
// * shapes are per time step without the batch dimension; layers the forward never calls (reference_compat's
//   LayerNorms) have no shapes and come last, in module order, followed by root parameters (pos_embed);
// * params: the layer's own parameters; flops: dense MACs per time step of the layer itself (conv
//   k·k·Cin·Cout·Ho·Wo, linear tokens·in·out (+ tokens·out with bias), ssa h·2·N·d·min(N, d)); composites 0;
// * spiking: the layer's input is binary spikes (the model's `spiking_inputs()`), lif layers always true.
//   Every architecture declares `spiking_inputs()` in the runtime; the flags here are the same structural ones
//   (input = a spiking neuron's output, or a pool of it) and test/unit/arch.test.ts compares them exactly.
// * Spikeformer and STSA layers copy describe's conventions as they are, including where they depart from the
//   rules above (see predictSpikeformer / predictStsa): batch-1 leading dims, per-sequence shapes of the
//   temporal attention, and flops 0 for Conv1d/Conv3d and for the attention products.

import archDefaults from '../../../runtime/spikestudio/models/arch_defaults.json';
import estimates from '../../../runtime/spikestudio/telemetry/estimates.json';
import { CONFIG_DEFINITION } from '../config/definition';

export type LayerKind = 'conv' | 'bn' | 'lif' | 'pool' | 'linear' | 'ssa' | 'attention' | 'mlp' | 'block' | 'add' | 'other';

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

export const SUPPORTED_ARCHS = ['spikformer', 'spikingformer', 'spikeformer', 'stsa', 'qkformer', 'sdt', 'meta-spikeformer'] as const;

// The architecture-specific keys' defaults (a null model key takes these): runtime/spikestudio/models/arch_defaults.json,
// which the runtime's models read too.
export const SPIKEFORMER_DEFAULTS: Readonly<typeof archDefaults.spikeformer> = archDefaults.spikeformer;
export const STSA_DEFAULTS: Readonly<typeof archDefaults.stsa> = archDefaults.stsa;
export const QKFORMER_DEFAULTS: Readonly<typeof archDefaults.qkformer> = archDefaults.qkformer;
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
  /** Spikeformer: the tokenizer's SEW blocks */
  sew: Array<{ cin: number; cout: number; stride: number }>;
  kernel: number;
  spikingAttention: boolean;
  liaf: boolean;
}

function spikeformerKeys(m: ModelShapeInput, D: number, cin: number) {
  const pick = <K extends keyof typeof SPIKEFORMER_DEFAULTS>(k: K): unknown => (m[k] ?? SPIKEFORMER_DEFAULTS[k]);
  const list = (k: 'tokenizer_channels' | 'tokenizer_strides'): number[] => {
    const v = pick(k);
    if (!Array.isArray(v) || v.length === 0 || !v.every((i) => typeof i === 'number' && Number.isInteger(i) && i >= 1)) {
      throw new ArchError(`model.${k}`, `must be a non-empty list of integers >= 1, got ${JSON.stringify(v)}`);
    }
    return v as number[];
  };
  const chans = list('tokenizer_channels');
  const strides = list('tokenizer_strides');
  if (strides.length !== chans.length) throw new ArchError('model.tokenizer_strides', `needs one stride per SEW block (${chans.length}), got ${strides.length}`);
  if (chans[chans.length - 1] !== D) throw new ArchError('model.tokenizer_channels', `the last entry (${chans[chans.length - 1]}) must equal model.embed_dim (${D})`);
  const kernel = pick('tokenizer_kernel');
  if (typeof kernel !== 'number' || !Number.isInteger(kernel) || kernel < 1 || kernel % 2 === 0) throw new ArchError('model.tokenizer_kernel', `must be an odd integer >= 1, got ${JSON.stringify(kernel)}`);
  const attention = pick('attention');
  if (attention !== 'softmax' && attention !== 'spiking') throw new ArchError('model.attention', `must be one of softmax, spiking, got ${JSON.stringify(attention)}`);
  const kind = pick('neuron_kind');
  if (kind !== 'plif' && kind !== 'liaf') throw new ArchError('model.neuron_kind', `must be one of plif, liaf, got ${JSON.stringify(kind)}`);
  const io = [cin, ...chans];
  return { sew: strides.map((stride, i) => ({ cin: io[i], cout: io[i + 1], stride })), kernel, spikingAttention: attention === 'spiking', liaf: kind === 'liaf' };
}

/**
 * Spikeformer's tokenizer sides, stage by stage: conv (k, stride s, pad k//2) gives ceil(side / s), the shortcut's
 * AvgPool(s, s) floor(side / s); they must agree (the runtime's forward fails otherwise), i.e. s divides the side.
 * Returns the token grid, or the first stage whose side a stride does not divide.
 */
export function spikeformerGrid(h: number, w: number, strides: readonly number[]): { grid: [number, number]; bad?: { stage: number; side: number; stride: number } } {
  for (let i = 0; i < strides.length; i++) {
    const s = strides[i];
    if (s > 1) {
      const side = h % s !== 0 ? h : w % s !== 0 ? w : null;
      if (side !== null) return { grid: [Math.floor((h - 1) / s) + 1, Math.floor((w - 1) / s) + 1], bad: { stage: i, side, stride: s } };
    }
    h = Math.floor((h - 1) / s) + 1;
    w = Math.floor((w - 1) / s) + 1;
  }
  return { grid: [h, w] };
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
  const cin = int('in_channels');
  let extra = { sew: [] as Norm['sew'], kernel: 0, spikingAttention: false, liaf: false };
  if (arch === 'spikeformer') {
    extra = spikeformerKeys(m, D, cin);
    const { bad } = spikeformerGrid(h, w, extra.sew.map((b) => b.stride));
    if (bad) {
      throw new ArchError(
        'model.img_size',
        `tokenizer stage ${bad.stage} gets a side of ${bad.side}, not divisible by its stride ${bad.stride}: the strided convolution gives ${Math.ceil(bad.side / bad.stride)}, the shortcut's AvgPool ${Math.floor(bad.side / bad.stride)} (the runtime's forward fails)`,
      );
    }
  }
  if (arch === 'stsa' && D % 16 !== 0) throw new ArchError('model.embed_dim', `must be a multiple of 16 for STSA (stem channels D/16, D/8, D/4), got ${D}`);
  if (arch === 'qkformer') checkQkformer(variant, D, heads, int('depth'));
  if (arch === 'meta-spikeformer') metaDims(m, D, heads, int('depth'));
  if (arch === 'sdt') sdtPooling(m, variant);
  return {
    ...extra,
    arch,
    variant,
    D,
    heads,
    depth: int('depth'),
    hidden,
    T: int('time_steps'),
    cin,
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
 * Spikeformer (models/spikeformer.py), as describe lists it. Departures from describe's documented conventions
 * that are copied here on purpose (runtime issues, see the report in the task log):
 * * the temporal attention runs on B·N sequences of length T: norm_t / attn_t / temporal_fc have shapes [T, D] and
 *   flops per token (T·…), not per time step; its spiking q/k/v_lif (attention: spiking) have shape [D];
 * * norm2, fc1, fc2 and the head's norm see the (T, B, N, D) tensor without a time layout: a leading batch dim 1;
 * * the head's attention_pool runs once over all T·N tokens ([T·N, D]); head.fc once per sample;
 * * MHSA entries (kind "attention") have flops 0: describe does not count the attention products.
 */
function spikeformerLayers(n: Norm): { layers: LayerInfo[]; grid: [number, number] } {
  const spiking = new Set<string>();
  const neuronParams = 1; // PLIF / LIAF: one learnable time constant
  const k = n.kernel;
  const b = new Builder(spiking);
  let h = n.h;
  let w = n.w;
  n.sew.forEach(({ cin, cout, stride }, i) => {
    const p = `tokenizer.blocks.${i}`;
    const ho = Math.floor((h - 1) / stride) + 1;
    const wo = Math.floor((w - 1) / stride) + 1;
    if (!n.liaf) spiking.add(`${p}.conv2.conv`);
    b.push(p, 'block', [cin, h, w], [cout, ho, wo], 0, 0);
    const unit = (name: string, ci: number, kk: number, hi: number, wi: number, s: number): void => {
      const hh = Math.floor((hi - 1) / s) + 1;
      const ww = Math.floor((wi - 1) / s) + 1;
      const params = kk * kk * ci * cout;
      b.push(`${name}.conv`, 'conv', [ci, hi, wi], [cout, hh, ww], params, params * hh * ww);
      b.push(`${name}.bn`, 'bn', [cout, hh, ww], [cout, hh, ww], 2 * cout, 0);
      b.push(`${name}.lif`, 'lif', [cout, hh, ww], [cout, hh, ww], neuronParams, 0);
    };
    unit(`${p}.conv1`, cin, k, h, w, stride);
    unit(`${p}.conv2`, cout, k, ho, wo, 1);
    if (!(stride === 1 && cin === cout)) {
      if (stride > 1) b.push(`${p}.pool`, 'pool', [cin, h, w], [cin, Math.floor(h / stride), Math.floor(w / stride)], 0, 0);
      unit(`${p}.down`, cin, 1, Math.floor(h / stride), Math.floor(w / stride), 1);
    }
    h = ho;
    w = wo;
  });
  const D = n.D;
  const N = h * w;
  const tok = [N, D];
  const lin = (fin: number, fout: number, bias: boolean) => fin * fout + (bias ? fout : 0);
  const attention = (p: string, L: number, lifShape: number[]): void => {
    const seq = [L, D];
    b.push(p, 'attention', seq, seq, 0, 0);
    b.push(`${p}.qkv`, 'linear', seq, [L, 3 * D], lin(D, 3 * D, false), L * lin(D, 3 * D, false));
    if (n.spikingAttention) for (const q of ['q', 'k', 'v']) b.push(`${p}.${q}_lif`, 'lif', lifShape, lifShape, neuronParams, 0);
    b.push(`${p}.proj`, 'linear', seq, seq, lin(D, D, true), L * lin(D, D, true));
  };
  for (let j = 0; j < n.depth; j++) {
    const p = `blocks.${j}`;
    if (!n.liaf) spiking.add(`${p}.fc2`);
    b.push(p, 'block', tok, tok, 0, 0);
    b.push(`${p}.norm_t`, 'other', [n.T, D], [n.T, D], 2 * D, 0);
    attention(`${p}.attn_t`, n.T, [D]);
    b.push(`${p}.temporal_fc`, 'linear', [n.T, D], [n.T, D], lin(D, D, true), n.T * lin(D, D, true));
    b.push(`${p}.norm1`, 'other', tok, tok, 2 * D, 0);
    attention(`${p}.attn`, N, tok);
    b.push(`${p}.norm2`, 'other', [1, N, D], [1, N, D], 2 * D, 0);
    b.push(`${p}.fc1`, 'linear', [1, N, D], [1, N, n.hidden], lin(D, n.hidden, true), N * lin(D, n.hidden, true));
    b.push(`${p}.mlp_lif`, 'lif', [N, n.hidden], [N, n.hidden], neuronParams, 0);
    b.push(`${p}.fc2`, 'linear', [1, N, n.hidden], [1, N, D], lin(n.hidden, D, true), N * lin(n.hidden, D, true));
  }
  b.push('head', 'pool', [1, N, D], [n.classes], 0, 0);
  b.push('head.norm', 'other', [1, N, D], [1, N, D], 2 * D, 0);
  b.push('head.attention_pool', 'linear', [n.T * N, D], [n.T * N, 1], D + 1, n.T * N * (D + 1));
  b.linear('head.fc', null, D, n.classes, true);
  b.push('pos_embed', 'other', undefined, undefined, N * D, 0);
  b.push('time_embed', 'other', undefined, undefined, n.T * D, 0);
  return { layers: b.layers, grid: [h, w] };
}

/**
 * STSA (models/stsa.py), as describe lists it. Copied departures (runtime issues): Conv1d (qkv_conv, proj_conv)
 * and Conv3d (mlp.fc1, fc2) have flops 0 (describe counts Conv2d only) and shapes over all T·N tokens ([C, T·N],
 * [C, T, H, W]); the attention (kind "ssa", own parameters = the relative-position bias table) has flops 0; the
 * head (per-step Linear on (T, B, D)) has shape [1, D]. STSA's neuron has no parameters. Every variant builds the
 * same model (four pooled stem stages).
 */
function stsaLayers(n: Norm): { layers: LayerInfo[]; grid: [number, number] } {
  const D = n.D;
  const spiking = new Set<string>(['stem.stages.0.pool', 'stem.rpe.conv', 'stem.add']);
  for (let i = 1; i < 4; i++) spiking.add(`stem.stages.${i}.conv`).add(`stem.stages.${i}.pool`);
  for (let j = 0; j < n.depth; j++) spiking.add(`blocks.${j}.attn.proj_conv`).add(`blocks.${j}.mlp.fc2`);
  const b = new Builder(spiking);
  const chans = [n.cin, D / 16, D / 8, D / 4, D];
  let h = n.h;
  let w = n.w;
  const stage = (p: string, ci: number, co: number, pool: boolean): void => {
    const params = 9 * ci * co;
    b.push(`${p}.conv`, 'conv', [ci, h, w], [co, h, w], params, params * h * w);
    b.push(`${p}.bn`, 'bn', [co, h, w], [co, h, w], 2 * co, 0);
    b.lif(`${p}.lif`, [co, h, w]);
    if (pool) [h, w] = b.pool(`${p}.pool`, co, h, w);
  };
  for (let i = 0; i < 4; i++) stage(`stem.stages.${i}`, chans[i], chans[i + 1], true);
  stage('stem.rpe', D, D, false);
  const map = [D, h, w];
  b.add('stem.add', map);
  const N = h * w;
  const T = n.T;
  const tok = [D, N];
  const all = [D, T * N];
  const hid = n.hidden;
  for (let j = 0; j < n.depth; j++) {
    const p = `blocks.${j}`;
    b.push(p, 'block', map, map, 0, 0);
    b.push(`${p}.attn`, 'ssa', tok, tok, (2 * T - 1) * (2 * h - 1) * (2 * w - 1) * n.heads, 0);
    b.push(`${p}.attn.qkv_conv`, 'conv', all, [3 * D, T * N], 3 * D * D, 0);
    b.push(`${p}.attn.qkv_bn`, 'bn', [3 * D, T * N], [3 * D, T * N], 6 * D, 0);
    b.lif(`${p}.attn.qkv_lif`, [3 * D, N]);
    b.lif(`${p}.attn.attn_lif`, tok);
    b.push(`${p}.attn.proj_conv`, 'conv', all, all, D * D + D, 0);
    b.push(`${p}.attn.proj_bn`, 'bn', all, all, 2 * D, 0);
    b.lif(`${p}.attn.proj_lif`, tok);
    b.add(`${p}.add1`, map);
    b.push(`${p}.mlp`, 'mlp', map, map, 0, 0);
    b.push(`${p}.mlp.fc1`, 'conv', [D, T, h, w], [hid, T, h, w], D * hid + hid, 0);
    b.push(`${p}.mlp.bn1`, 'bn', [hid, T, h, w], [hid, T, h, w], 2 * hid, 0);
    b.lif(`${p}.mlp.lif1`, [hid, h, w]);
    b.push(`${p}.mlp.fc2`, 'conv', [hid, T, h, w], [D, T, h, w], hid * D + D, 0);
    b.push(`${p}.mlp.bn2`, 'bn', [D, T, h, w], [D, T, h, w], 2 * D, 0);
    b.lif(`${p}.mlp.lif2`, map);
    b.add(`${p}.add2`, map);
  }
  b.linear('head', 1, D, n.classes, true);
  if (n.compat) {
    for (let j = 0; j < n.depth; j++) {
      b.push(`blocks.${j}.attn.to_qkv_proj`, 'linear', undefined, undefined, 3 * D * D, 0);
      b.push(`blocks.${j}.attn.to_qkv_bn`, 'bn', undefined, undefined, 6 * D, 0);
    }
  }
  return { layers: b.layers, grid: [h, w] };
}

// ---------------------------------------------------------------------------------------------
// QKFormer, Spike-driven Transformer v1, Meta-SpikeFormer (reference spec 2): module names are the released
// state_dict keys. Copied describe conventions: Conv1d entries (QKFormer Q/K/V/proj, Meta-SpikeFormer MLP) have
// flops 0 and shapes [C, N]; the mask attentions (QKTA/QKCA, SDSA; kind "ssa") have flops 0; the heads after a
// (T, B, C) neuron have shape [1, C].

/** Output side of a k×k convolution with stride s and padding p. */
function convSide(n: number, k: number, s: number, p: number): number {
  return Math.floor((n + 2 * p - k) / s) + 1;
}

/** QKFormer stage plan [(width, blocks)] (runtime models/qkformer.py stage_plan). */
export function qkformerStages(variant: string, D: number, depth: number): Array<[number, number]> {
  if (variant === 'imagenet') return [[D / 4, 1], [D / 2, 2], [D, depth - 3]];
  if (variant === 'cifar') return [[D / 4, 1], [D / 2, 1], [D, depth - 2]];
  return [[D / 2, 1], [D, depth - 1]];
}

const QKFORMER_MIN_DEPTH: Record<string, number> = { imagenet: 4, cifar: 3, dvs: 2 };

function checkQkformer(variant: string, D: number, heads: number, depth: number): void {
  const min = QKFORMER_MIN_DEPTH[variant] ?? 3;
  if (depth < min) throw new ArchError('model.depth', `QKFormer ${variant} needs depth >= ${min} (one block in each early stage and at least one in the last), got ${depth}`);
  const need = variant === 'dvs' ? 16 : 8;
  if (D % need !== 0) throw new ArchError('model.embed_dim', `must be a multiple of ${need} for QKFormer ${variant}, got ${D}`);
  const widths = qkformerStages(variant, D, depth).map(([w]) => w);
  if (widths.some((w) => w % heads !== 0)) throw new ArchError('model.num_heads', `must divide every stage width [${widths.join(', ')}], got ${heads}`);
}

const SDT_POOLING: Record<string, string> = { cifar: '0011', imagenet: '1111', dvs: '0111' };

function sdtPooling(m: ModelShapeInput, variant: string): boolean[] {
  const ps = m.pooling_stat ?? SDT_POOLING[variant] ?? '0011';
  if (typeof ps !== 'string' || !/^[01]{4}$/.test(ps)) throw new ArchError('model.pooling_stat', `must be 4 characters of 0/1, got ${JSON.stringify(ps)}`);
  return [...ps].map((c) => c === '1');
}

/** Meta-SpikeFormer stage widths [C0, C1, C2, C3] (null = [D/4, D/2, D, 5D/4]). */
export function metaDims(m: ModelShapeInput, D: number, heads: number, depth: number): number[] {
  const v = m.stage_dims ?? [D / 4, D / 2, D, Math.floor((D * 5) / 4)];
  if (!Array.isArray(v) || v.length !== 4 || !v.every((c) => typeof c === 'number' && Number.isInteger(c) && c >= 2)) {
    throw new ArchError('model.stage_dims', `must be 4 integers [C0, C1, C2, C3] >= 2, got ${JSON.stringify(v)}`);
  }
  const dims = v as number[];
  if (dims[2] !== D) throw new ArchError('model.stage_dims', `C2 (${dims[2]}) must equal model.embed_dim (${D})`);
  if (dims[0] % 2 !== 0) throw new ArchError('model.stage_dims', `C0 (${dims[0]}) must be even (the stem has C0/2 channels)`);
  if (dims[2] % heads !== 0 || dims[3] % heads !== 0) throw new ArchError('model.num_heads', `must divide the transformer stage widths C2 = ${dims[2]} and C3 = ${dims[3]}, got ${heads}`);
  if (depth < 3) throw new ArchError('model.depth', `Meta-SpikeFormer needs depth >= 3 (depth - 2 blocks at C2, 2 at C3), got ${depth}`);
  return dims;
}

/** Conv (k, stride, pad, groups, bias) entry; returns the output side. */
function convEntry(b: Builder, name: string, cin: number, cout: number, h: number, w: number, k: number, s = 1, p = (k - 1) / 2, bias = false, groups = 1): [number, number] {
  const ho = convSide(h, k, s, p);
  const wo = convSide(w, k, s, p);
  const params = k * k * (cin / groups) * cout + (bias ? cout : 0);
  b.push(name, 'conv', [cin, h, w], [cout, ho, wo], params, k * k * (cin / groups) * cout * ho * wo + (bias ? cout * ho * wo : 0));
  return [ho, wo];
}

function qkformerLayers(n: Norm, m: ModelShapeInput): { layers: LayerInfo[]; grid: [number, number] } {
  const spiking = new Set<string>();
  const b = new Builder(spiking);
  const plan = qkformerStages(n.variant, n.D, n.depth);
  const early = m.early_attention ?? QKFORMER_DEFAULTS.early_attention;
  const last = m.last_attention ?? QKFORMER_DEFAULTS.last_attention;
  const imagenet = n.variant === 'imagenet';
  let h = n.h;
  let w = n.w;
  /** conv (k, stride) -> bn -> [mp] -> lif; returns the side after it */
  const unit = (p: string, cin: number, cout: number, pool: boolean, k = 3, s = 1): void => {
    [h, w] = convEntry(b, `${p}_conv`, cin, cout, h, w, k, s);
    b.bn(`${p}_bn`, [cout, h, w]);
    if (pool) [h, w] = b.pool(`${p}_mp`, cout, h, w);
    b.lif(`${p}_lif`, [cout, h, w]);
  };
  plan.forEach(([c, blocks], i) => {
    const e = `patch_embed${i + 1}`;
    if (i === 0) {
      const cin = n.cin;
      if (n.variant === 'dvs') {
        for (const u of ['proj1', 'proj2', 'proj3', 'proj_res']) spiking.add(`${e}.${u}_conv`);
        unit(`${e}.proj`, cin, c / 8, false);
        unit(`${e}.proj1`, c / 8, c / 4, true);
        const x0: [number, number] = [h, w];
        unit(`${e}.proj2`, c / 4, c / 2, true);
        unit(`${e}.proj3`, c / 2, c, true);
        const out: [number, number] = [h, w];
        [h, w] = x0;
        unit(`${e}.proj_res`, c / 4, c, false, 1, 4);
        [h, w] = out;
      } else {
        for (const u of imagenet ? ['proj1', 'proj2', 'proj_res'] : ['proj1', 'proj_res']) spiking.add(`${e}.${u}_conv`);
        unit(`${e}.proj`, cin, c / 2, imagenet);
        const x0: [number, number] = [h, w];
        unit(`${e}.proj1`, c / 2, c, imagenet);
        if (imagenet) unit(`${e}.proj2`, c, c, false);
        const out: [number, number] = [h, w];
        [h, w] = x0;
        unit(`${e}.proj_res`, c / 2, c, false, 1, imagenet ? 2 : 1);
        [h, w] = out;
      }
    } else {
      const cin = plan[i - 1][0];
      const [a, bb] = n.variant === 'dvs' ? ['proj', 'proj4'] : ['proj3', 'proj4'];
      const x: [number, number] = [h, w];
      spiking.add(`${e}.${bb}_conv`);
      unit(`${e}.${a}`, cin, c, imagenet);
      unit(`${e}.${bb}`, c, c, !imagenet);
      const out: [number, number] = [h, w];
      [h, w] = x;
      unit(`${e}.proj_res`, cin, c, false, 1, 2);
      [h, w] = out;
    }
    b.add(`${e}.add`, [c, h, w]);
    const kind = i === plan.length - 1 ? last : early;
    const N = h * w;
    const map = [c, h, w];
    const seq = [c, N];
    const hid = Math.trunc(c * Number(m.mlp_ratio ?? MODEL_FIELDS.mlp_ratio.default));
    const mlp = imagenet ? ['fc1', 'fc2'] : ['mlp1', 'mlp2'];
    for (let j = 0; j < blocks; j++) {
      const p = `stage${i + 1}.${j}`;
      const attn = kind === 'ssa' ? (imagenet ? 'attn' : 'ssa') : 'tssa';
      const a = `${p}.${attn}`;
      spiking.add(`${a}.proj_conv`).add(`${p}.mlp.${mlp[1]}_conv`);
      b.push(p, 'block', map, map, 0, 0);
      b.push(a, 'ssa', map, map, 0, kind === 'ssa' ? ssaFlops(n.heads, N, c) : 0);
      for (const q of kind === 'ssa' ? ['q', 'k', 'v'] : ['q', 'k']) {
        b.push(`${a}.${q}_conv`, 'conv', seq, seq, c * c, 0);
        b.push(`${a}.${q}_bn`, 'bn', seq, seq, 2 * c, 0);
        b.lif(`${a}.${q}_lif`, seq);
      }
      if (kind === 'ssa') b.lif(`${a}.attn_lif`, seq);
      else if (kind === 'qkta') b.lif(`${a}.attn_lif`, [n.heads, 1, N]);
      else b.lif(`${a}.attn_lif`, [c, 1]);
      b.push(`${a}.proj_conv`, 'conv', seq, seq, c * c + c, 0);
      b.push(`${a}.proj_bn`, 'bn', seq, seq, 2 * c, 0);
      b.lif(`${a}.proj_lif`, seq);
      b.add(`${p}.add1`, map);
      b.push(`${p}.mlp`, 'mlp', map, map, 0, 0);
      b.push(`${p}.mlp.${mlp[0]}_conv`, 'conv', map, [hid, h, w], c * hid + hid, (c * hid + hid) * N);
      b.bn(`${p}.mlp.${mlp[0]}_bn`, [hid, h, w]);
      b.lif(`${p}.mlp.${mlp[0]}_lif`, [hid, h, w]);
      b.push(`${p}.mlp.${mlp[1]}_conv`, 'conv', [hid, h, w], map, hid * c + c, (hid * c + c) * N);
      b.bn(`${p}.mlp.${mlp[1]}_bn`, map);
      b.lif(`${p}.mlp.${mlp[1]}_lif`, map);
      b.add(`${p}.add2`, map);
    }
  });
  const C = plan[plan.length - 1][0];
  b.push('pool', 'pool', [C, h, w], [C], 0, 0);
  b.linear('head', null, C, n.classes, true);
  return { layers: b.layers, grid: [h, w] };
}

function sdtLayers(n: Norm, m: ModelShapeInput): { layers: LayerInfo[]; grid: [number, number] } {
  const pools = sdtPooling(m, n.variant);
  const D = n.D;
  const spiking = new Set<string>(['patch_embed.proj_conv1', 'patch_embed.proj_conv2', 'patch_embed.proj_conv3', 'patch_embed.rpe_conv', 'head']);
  const b = new Builder(spiking);
  const chans = [n.cin, D / 8, D / 4, D / 2, D];
  const sfx = ['', '1', '2', '3'];
  let h = n.h;
  let w = n.w;
  for (let i = 0; i < 4; i++) {
    b.conv(`patch_embed.proj_conv${sfx[i]}`, chans[i], chans[i + 1], h, w);
    b.bn(`patch_embed.proj_bn${sfx[i]}`, [chans[i + 1], h, w]);
    if (i < 3) b.lif(`patch_embed.proj_lif${sfx[i]}`, [chans[i + 1], h, w]);
    if (pools[i]) {
      if (i < 3) spiking.add(`patch_embed.maxpool${sfx[i]}`);
      [h, w] = b.pool(`patch_embed.maxpool${sfx[i]}`, chans[i + 1], h, w);
    }
  }
  const map = [D, h, w];
  b.lif('patch_embed.rpe_lif', map);
  b.conv('patch_embed.rpe_conv', D, D, h, w);
  b.bn('patch_embed.rpe_bn', map);
  b.add('patch_embed.rpe_add', map);
  const N = h * w;
  const conv1 = (name: string, cin: number, cout: number, bias: boolean) => {
    const params = cin * cout + (bias ? cout : 0);
    b.push(name, 'conv', [cin, h, w], [cout, h, w], params, params * N);
  };
  for (let j = 0; j < n.depth; j++) {
    const p = `block.${j}`;
    const a = `${p}.attn`;
    b.push(p, 'block', map, map, 0, 0);
    b.push(a, 'ssa', map, map, 0, 0);
    b.lif(`${a}.shortcut_lif`, map);
    for (const q of ['q', 'k', 'v']) {
      spiking.add(`${a}.${q}_conv`);
      conv1(`${a}.${q}_conv`, D, D, false);
      b.bn(`${a}.${q}_bn`, map);
      b.lif(`${a}.${q}_lif`, map);
    }
    b.lif(`${a}.talking_heads_lif`, [n.heads, 1, D / n.heads]);
    spiking.add(`${a}.proj_conv`).add(`${p}.mlp.fc1_conv`).add(`${p}.mlp.fc2_conv`);
    conv1(`${a}.proj_conv`, D, D, true);
    b.bn(`${a}.proj_bn`, map);
    b.add(`${p}.add1`, map);
    b.push(`${p}.mlp`, 'mlp', map, map, 0, 0);
    b.lif(`${p}.mlp.fc1_lif`, map);
    conv1(`${p}.mlp.fc1_conv`, D, n.hidden, true);
    b.bn(`${p}.mlp.fc1_bn`, [n.hidden, h, w]);
    b.lif(`${p}.mlp.fc2_lif`, [n.hidden, h, w]);
    conv1(`${p}.mlp.fc2_conv`, n.hidden, D, true);
    b.bn(`${p}.mlp.fc2_bn`, map);
    b.add(`${p}.add2`, map);
  }
  b.push('pool', 'pool', map, [D], 0, 0);
  b.lif('head_lif', [D]);
  b.linear('head', 1, D, n.classes, true);
  if (n.compat) for (let j = 0; j < n.depth; j++) b.push(`block.${j}.attn.talking_heads`, 'conv', undefined, undefined, n.heads * n.heads, 0);
  return { layers: b.layers, grid: [h, w] };
}

function metaSpikeformerLayers(n: Norm, m: ModelShapeInput): { layers: LayerInfo[]; grid: [number, number] } {
  const [c0, c1, c2, c3] = metaDims(m, n.D, n.heads, n.depth);
  const kd = m.distillation_head === true;
  const spiking = new Set<string>(['head']);
  if (kd) spiking.add('head_kd');
  const b = new Builder(spiking);
  let h = n.h;
  let w = n.w;
  const down = (p: string, cin: number, cout: number, k: number, s: number, pad: number, first: boolean): void => {
    if (!first) {
      b.lif(`${p}.encode_lif`, [cin, h, w]);
      spiking.add(`${p}.encode_conv`);
    }
    [h, w] = convEntry(b, `${p}.encode_conv`, cin, cout, h, w, k, s, pad, true);
    b.bn(`${p}.encode_bn`, [cout, h, w]);
  };
  const convBlock = (p: string, c: number): void => {
    const map = [c, h, w];
    for (const s of ['Conv.pwconv1', 'Conv.dwconv', 'conv1', 'conv2']) spiking.add(`${p}.${s}`);
    b.push(p, 'block', map, map, 0, 0);
    b.lif(`${p}.Conv.lif1`, map);
    convEntry(b, `${p}.Conv.pwconv1`, c, 2 * c, h, w, 1);
    b.bn(`${p}.Conv.bn1`, [2 * c, h, w]);
    b.lif(`${p}.Conv.lif2`, [2 * c, h, w]);
    convEntry(b, `${p}.Conv.dwconv`, 2 * c, 2 * c, h, w, 7, 1, 3, false, 2 * c);
    convEntry(b, `${p}.Conv.pwconv2`, 2 * c, c, h, w, 1);
    b.bn(`${p}.Conv.bn2`, map);
    b.add(`${p}.add1`, map);
    b.lif(`${p}.lif1`, map);
    convEntry(b, `${p}.conv1`, c, 4 * c, h, w, 3);
    b.bn(`${p}.bn1`, [4 * c, h, w]);
    b.lif(`${p}.lif2`, [4 * c, h, w]);
    convEntry(b, `${p}.conv2`, 4 * c, c, h, w, 3);
    b.bn(`${p}.bn2`, map);
    b.add(`${p}.add2`, map);
  };
  const block = (p: string, c: number): void => {
    const map = [c, h, w];
    const N = h * w;
    const hid = Math.trunc(c * Number(m.mlp_ratio ?? MODEL_FIELDS.mlp_ratio.default));
    spiking.add(`${p}.mlp.fc1_conv`).add(`${p}.mlp.fc2_conv`);
    b.push(p, 'block', map, map, 0, 0);
    b.push(`${p}.attn`, 'ssa', map, map, 0, ssaFlops(n.heads, N, c));
    b.lif(`${p}.attn.head_lif`, map);
    const rep = (r: string): void => {
      spiking.add(`${r}.0.body.0`);
      convEntry(b, `${r}.0.body.0`, c, c, h, w, 1);
      b.bn(`${r}.0.body.1.bn`, map);
      convEntry(b, `${r}.0.body.2.0`, c, c, h + 2, w + 2, 3, 1, 0, false, c);
      convEntry(b, `${r}.0.body.2.1`, c, c, h, w, 1);
      b.bn(`${r}.0.body.2.2`, map);
      b.bn(`${r}.1`, map);
    };
    for (const q of ['q', 'k', 'v']) {
      rep(`${p}.attn.${q}_conv`);
      b.lif(`${p}.attn.${q}_lif`, map);
    }
    b.lif(`${p}.attn.attn_lif`, map);
    rep(`${p}.attn.proj_conv`);
    b.add(`${p}.add1`, map);
    b.push(`${p}.mlp`, 'mlp', map, map, 0, 0);
    b.lif(`${p}.mlp.fc1_lif`, map);
    b.push(`${p}.mlp.fc1_conv`, 'conv', [c, N], [hid, N], c * hid + hid, 0);
    b.push(`${p}.mlp.fc1_bn`, 'bn', [hid, N], [hid, N], 2 * hid, 0);
    b.lif(`${p}.mlp.fc2_lif`, [hid, N]);
    b.push(`${p}.mlp.fc2_conv`, 'conv', [hid, N], [c, N], hid * c + c, 0);
    b.push(`${p}.mlp.fc2_bn`, 'bn', [c, N], [c, N], 2 * c, 0);
    b.add(`${p}.add2`, map);
  };
  down('downsample1_1', n.cin, c0 / 2, 7, 2, 3, true);
  convBlock('ConvBlock1_1.0', c0 / 2);
  down('downsample1_2', c0 / 2, c0, 3, 2, 1, false);
  convBlock('ConvBlock1_2.0', c0);
  down('downsample2', c0, c1, 3, 2, 1, false);
  convBlock('ConvBlock2_1.0', c1);
  convBlock('ConvBlock2_2.0', c1);
  down('downsample3', c1, c2, 3, 2, 1, false);
  for (let j = 0; j < n.depth - 2; j++) block(`block3.${j}`, c2);
  down('downsample4', c2, c3, 3, 1, 1, false);
  for (let j = 0; j < 2; j++) block(`block4.${j}`, c3);
  b.push('pool', 'pool', [c3, h, w], [c3], 0, 0);
  b.lif('head_lif', [c3]);
  b.linear('head', 1, c3, n.classes, true);
  if (kd) b.linear('head_kd', 1, c3, n.classes, true);
  return { layers: b.layers, grid: [h, w] };
}

/**
 * The layer list `python -m spikestudio describe` prints for this model section (resolved or partial: missing
 * keys take the definition's defaults). Throws ArchError (naming the dotted key) for values the runtime rejects.
 */
export function predictModel(model: ModelShapeInput): ModelPrediction {
  const n = normalize(model);
  const build = {
    spikformer: spikformerLayers,
    spikingformer: spikingformerLayers,
    spikeformer: spikeformerLayers,
    stsa: stsaLayers,
    qkformer: qkformerLayers,
    sdt: sdtLayers,
    'meta-spikeformer': metaSpikeformerLayers,
  }[n.arch as (typeof SUPPORTED_ARCHS)[number]];
  const { layers, grid } = build(n, model);
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
  // Spikeformer: the attention-pooling head (its entries' flops already cover all T·N tokens)
  const head = p.layers.find((l) => l.name === 'head' && l.kind === 'pool');
  if (head) for (const l of p.layers) if (l.name.startsWith('head.') && l.shape_in) once.add(l.name);
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

/** pJ per multiply-accumulate and per accumulate (runtime/spikestudio/telemetry/estimates.json, the runtime's too) */
export const E_MAC_PJ = estimates.energy.e_mac_pj;
export const E_AC_PJ = estimates.energy.e_ac_pj;
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
    if (layer.kind === 'ssa' || layer.kind === 'attention') {
      if (layer.kind === 'attention' || layer.flops === 0) continue; // attention products describe does not count (STSA, Spikeformer)
      const heads = ssaHeads(layer, N);
      const D = ssaDim(layer);
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

/** Channels of an ssa layer: token layout [N, D], or conv layout [C, H, W] (QKFormer / Meta-SpikeFormer). */
function ssaDim(layer: LayerInfo): number {
  if (!layer.shape_in) return 0;
  return layer.shape_in.length === 3 ? layer.shape_in[0] : layer.shape_in[1];
}

/** Heads of an ssa layer, recovered from its flops (h·2·N·d·min(N, d) with d = D/h). */
function ssaHeads(layer: LayerInfo, N: number): number {
  const D = ssaDim(layer);
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
export const ACTIVATION_FACTOR = estimates.memory.activation_factor;
/** CUDA context, cuDNN workspaces and allocator slack. */
export const MEMORY_OVERHEAD_MB = estimates.memory.overhead_mb;
/** fp32 weights + gradients + two AdamW moments */
export const BYTES_PER_PARAM = estimates.memory.bytes_per_param;

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

/**
 * The training-memory options (train.*) the estimate follows. Absent keys count as off (the plain path), so a caller
 * that passes only `amp` gets the original estimate.
 */
export interface MemoryOptions {
  amp?: boolean | string;
  pack_spikes?: boolean;
  recompute_membranes?: boolean;
  checkpoint_blocks?: boolean;
  temporal_grad?: string;
}
/**
 * Activation factors of the exact memory options, from runtime/bench/memory.py (activations saved for backward,
 * parameters excluded, vs the plain path): pack_spikes 0.72 and recompute_membranes 0.67 on Spikformer-4-384
 * CIFAR-10; together they measure 0.31–0.39 (Spikformer / Spikingformer / CIFAR10-DVS), below the product 0.47 used
 * here (the estimate stays on the safe side).
 */
export const PACK_SPIKES_FACTOR = estimates.memory.pack_spikes_factor;
export const RECOMPUTE_MEMBRANES_FACTOR = estimates.memory.recompute_membranes_factor;

function elements(shape: number[] | null | undefined): number {
  return shape ? shape.reduce((a, b) => a * b, 1) : 0;
}

const COMPOSITE_KINDS = ['block', 'mlp', 'ssa', 'add'];

/**
 * Elements each layer stores per sample per time step (its output; composites and dead layers count 0). With
 * checkpoint_blocks a block keeps only its input, plus, while backward recomputes it, the layers of one block (the
 * largest).
 */
function storedElements(p: ModelPrediction, checkpointBlocks = false): number {
  const blocks = checkpointBlocks ? p.layers.filter((l) => l.kind === 'block' && l.shape_out) : [];
  let total = 0;
  const inner = new Map<string, number>(blocks.map((b) => [b.name, 0]));
  for (const l of p.layers) {
    if (!l.shape_out || COMPOSITE_KINDS.includes(l.kind)) continue;
    const owner = blocks.find((b) => l.name.startsWith(`${b.name}.`));
    if (owner) inner.set(owner.name, (inner.get(owner.name) ?? 0) + elements(l.shape_out));
    else total += elements(l.shape_out);
  }
  for (const b of blocks) total += elements(b.shape_in ?? b.shape_out);
  return total + Math.max(0, ...inner.values());
}

/**
 * Estimated peak GPU memory of training with `batch` samples of T steps: activations × T × batch × bytes × factor,
 * the factor times the options' factors; temporal_grad sltt keeps one time step at a time (T counts 1).
 */
export function estimateTrainingMemory(p: ModelPrediction, batch: number, opts: MemoryOptions = {}): MemoryEstimate {
  const bytes = opts.amp === 'fp16' || opts.amp === 'bf16' || opts.amp === true ? 2 : 4;
  const MB = 1024 * 1024;
  const steps = opts.temporal_grad === 'sltt' ? 1 : p.time_steps;
  const factor = ACTIVATION_FACTOR * (opts.pack_spikes ? PACK_SPIKES_FACTOR : 1) * (opts.recompute_membranes ? RECOMPUTE_MEMBRANES_FACTOR : 1);
  const perSample = (storedElements(p, opts.checkpoint_blocks === true) * steps * bytes * factor) / MB;
  const paramsMb = (p.params * BYTES_PER_PARAM) / MB;
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
export function largestBatchThatFits(p: ModelPrediction, memoryMb: number, opts: MemoryOptions = {}): number {
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
