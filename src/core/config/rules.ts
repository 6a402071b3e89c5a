// Semantic rules: checks that need several keys at once. They run on the merged config with every default
// filled in, after structural validation passed. Add a rule by appending to SEMANTIC_RULES, with a failing and a
// passing fixture in test/fixtures/rules/<code>.{bad,good}.spike.yaml (test/unit/rules.test.ts runs them all).

import * as fs from 'node:fs';
import { ArchError, estimateTrainingMemory, largestBatchThatFits, poolingFactor, predictModel, qkformerStages, SPIKEFORMER_DEFAULTS, spikeformerGrid, SUPPORTED_VARIANTS } from '../arch';
import { datasetClasses, datasetImageSize, datasetInfo, KNOWN_DATASETS } from './datasets';
import { CONFIG_DEFINITION, type FieldSpec, type ResolvedConfig } from './definition';
import type { DiagnosticSeverity } from './diagnostics';

/** A fix proposed by a rule: replace the value (or key) at `path`; loadConfig adds its range in the file. */
export interface RuleFix {
  title: string;
  path: string;
  part?: 'key' | 'value';
  replaceWith: string;
}

export interface RuleFinding {
  severity: DiagnosticSeverity;
  /** the dotted key the diagnostic points at */
  path: string;
  message: string;
  fix?: RuleFix;
}

export interface RuleContext {
  /** memory of the GPU training will use, MB; null: the memory rule is skipped */
  gpuMemoryMb: number | null;
  /** whether to check that data.root / model.init_from exist */
  checkPaths: boolean;
  fileExists(absolutePath: string): boolean;
  /** a small text file's content (null: absent, unreadable or over 1 MB); used for checkpoint sidecars */
  readSmallText?(absolutePath: string): string | null;
}

function readSmallText(p: string): string | null {
  try {
    if (fs.statSync(p).size > 1 << 20) return null;
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

export const DEFAULT_RULE_CONTEXT: RuleContext = { gpuMemoryMb: null, checkPaths: true, fileExists: (p) => fs.existsSync(p), readSmallText };

export interface SemanticRule {
  code: string;
  check(config: ResolvedConfig, ctx: RuleContext): RuleFinding[];
}

function nearest(candidates: number[], target: number): number {
  return candidates.reduce((best, c) => (Math.abs(c - target) < Math.abs(best - target) || (Math.abs(c - target) === Math.abs(best - target) && c > best) ? c : best), candidates[0]);
}

const embedDimMultipleOf8: SemanticRule = {
  code: 'embed-dim-multiple-of-8',
  check({ model }) {
    if (model.arch === 'stsa' && model.embed_dim % 16 !== 0) {
      const to16 = Math.max(16, Math.round(model.embed_dim / 16) * 16);
      return [
        {
          severity: 'error',
          path: 'model.embed_dim',
          message: `model.embed_dim (${model.embed_dim}) must be a multiple of 16 for STSA: its stem has embed_dim/16, /8 and /4 channels. Use ${to16}.`,
          fix: { title: `Set embed_dim to ${to16}`, path: 'model.embed_dim', replaceWith: String(to16) },
        },
      ];
    }
    if (model.embed_dim % 8 === 0) return [];
    const to = Math.max(8, Math.round(model.embed_dim / 8) * 8);
    return [
      {
        severity: 'error',
        path: 'model.embed_dim',
        message: `model.embed_dim (${model.embed_dim}) must be a multiple of 8: the tokenizer's stages have embed_dim/8, /4 and /2 channels. Use ${to}.`,
        fix: { title: `Set embed_dim to ${to}`, path: 'model.embed_dim', replaceWith: String(to) },
      },
    ];
  },
};

const headsDivideEmbedDim: SemanticRule = {
  code: 'heads-divide-dim',
  check({ model }) {
    if (model.embed_dim % model.num_heads === 0) return [];
    const divisors = Array.from({ length: 16 }, (_, i) => i + 1).filter((h) => model.embed_dim % h === 0);
    const all = Array.from({ length: Math.min(model.embed_dim, 64) }, (_, i) => i + 1).filter((h) => model.embed_dim % h === 0);
    const best = nearest(all, model.num_heads);
    return [
      {
        severity: 'error',
        path: 'model.num_heads',
        message:
          `model.num_heads (${model.num_heads}) must divide model.embed_dim (${model.embed_dim}) evenly. ` +
          `Use num_heads in ${divisors.join(', ')}, or change embed_dim to a multiple of ${model.num_heads} (e.g. ${Math.ceil(model.embed_dim / model.num_heads) * model.num_heads}).`,
        fix: { title: `Set num_heads to ${best}`, path: 'model.num_heads', replaceWith: String(best) },
      },
    ];
  },
};

/**
 * Stage widths of the hierarchical spike-driven models (reference spec 2): QKFormer uses num_heads in every stage
 * (D/4, D/2, D; dvs D/2, D) and needs one block per early stage; Meta-SpikeFormer's stage_dims[2] is embed_dim and
 * its heads split C2 and C3.
 */
const stageWidths: SemanticRule = {
  code: 'stage-widths',
  check({ model }) {
    const out: RuleFinding[] = [];
    const D = model.embed_dim;
    const h = model.num_heads;
    const headsFix = (widths: number[]): RuleFinding['fix'] => {
      const ok = Array.from({ length: 64 }, (_, i) => i + 1).filter((k) => widths.every((c) => c % k === 0));
      const best = nearest(ok, h);
      return { title: `Set num_heads to ${best}`, path: 'model.num_heads', replaceWith: String(best) };
    };
    if (model.arch === 'qkformer') {
      const min = { imagenet: 4, cifar: 3, dvs: 2 }[model.variant] ?? 3;
      if (model.depth < min) {
        out.push({
          severity: 'error',
          path: 'model.depth',
          message: `model.depth (${model.depth}) counts all QKFormer blocks: ${model.variant} needs at least ${min} (one in each early stage${model.variant === 'dvs' ? '' : 's'} and one in the last; HST-10 = 1 + 2 + 7, HST-4 = 1 + 1 + 2, HST-2 = 1 + 1).`,
          fix: { title: `Set depth to ${min}`, path: 'model.depth', replaceWith: String(min) },
        });
        return out;
      }
      if (model.variant === 'dvs' && D % 16 !== 0) {
        const to = Math.max(16, Math.round(D / 16) * 16);
        out.push({ severity: 'error', path: 'model.embed_dim', message: `model.embed_dim (${D}) must be a multiple of 16 for QKFormer dvs: its stem has embed_dim/16 channels. Use ${to}.`, fix: { title: `Set embed_dim to ${to}`, path: 'model.embed_dim', replaceWith: String(to) } });
        return out;
      }
      const widths = qkformerStages(model.variant, D, model.depth).map(([w]) => w);
      if (D % 8 === 0 && widths.some((c) => c % h !== 0)) {
        out.push({ severity: 'error', path: 'model.num_heads', message: `model.num_heads (${h}) must divide every QKFormer stage width (${widths.join(', ')}): each stage splits its channels into num_heads heads.`, fix: headsFix(widths) });
      }
    }
    if (model.arch === 'meta-spikeformer') {
      const dims = model.stage_dims ?? [D / 4, D / 2, D, Math.floor((D * 5) / 4)];
      if (dims.length !== 4) {
        out.push({ severity: 'error', path: 'model.stage_dims', message: `model.stage_dims needs 4 widths [C0, C1, C2, C3], got ${dims.length}.` });
        return out;
      }
      if (dims[2] !== D) {
        out.push({ severity: 'error', path: 'model.embed_dim', message: `model.embed_dim (${D}) must equal stage_dims[2] (${dims[2]}), the width of the first transformer stage.`, fix: { title: `Set embed_dim to ${dims[2]}`, path: 'model.embed_dim', replaceWith: String(dims[2]) } });
      }
      if (dims[0] % 2 !== 0) out.push({ severity: 'error', path: 'model.stage_dims', message: `stage_dims[0] (${dims[0]}) must be even: the stem has C0/2 channels.` });
      if (dims[2] % h !== 0 || dims[3] % h !== 0) {
        out.push({ severity: 'error', path: 'model.num_heads', message: `model.num_heads (${h}) must divide the transformer stage widths C2 = ${dims[2]} and C3 = ${dims[3]}.`, fix: headsFix([dims[2], dims[3]]) });
      }
      if (model.depth < 3) out.push({ severity: 'error', path: 'model.depth', message: `model.depth (${model.depth}) counts the transformer blocks (depth - 2 at C2, 2 at C3): Meta-SpikeFormer needs at least 3 (the published models: 8).`, fix: { title: 'Set depth to 8', path: 'model.depth', replaceWith: '8' } });
    }
    return out;
  },
};

const atLeastOneTimeStep: SemanticRule = {
  code: 'time-steps',
  check({ model }) {
    if (Number.isInteger(model.time_steps) && model.time_steps >= 1) return [];
    return [{ severity: 'error', path: 'model.time_steps', message: `model.time_steps must be an integer ≥ 1 (it is ${model.time_steps}). Spikformer uses T = 4.` }];
  },
};

const sides = (img: number | readonly number[]): [number, number] => (Array.isArray(img) ? [img[0], img[1]] : [img as number, img as number]);
const sizeText = ([h, w]: readonly number[]): string => (h === w ? String(h) : `[${h}, ${w}]`);

const imgSizeFitsTokenizer: SemanticRule = {
  code: 'img-size-pooling',
  check({ model }) {
    const [h, w] = sides(model.img_size);
    if (model.arch === 'spikeformer') {
      const strides = model.tokenizer_strides ?? SPIKEFORMER_DEFAULTS.tokenizer_strides;
      const { bad } = spikeformerGrid(h, w, strides);
      if (!bad) return [];
      const product = strides.reduce((a, b) => a * b, 1);
      const round = (v: number) => Math.max(product, Math.round(v / product) * product);
      const to = sizeText([round(h), round(w)]);
      return [
        {
          severity: 'error',
          path: 'model.img_size',
          message:
            `model.img_size (${sizeText([h, w])}): Spikeformer tokenizer stage ${bad.stage} gets a side of ${bad.side}, which its stride ${bad.stride} does not divide; ` +
            `the strided convolution and the shortcut's average pool then disagree (${Math.ceil(bad.side / bad.stride)} vs ${Math.floor(bad.side / bad.stride)}) and the forward fails. ` +
            `Use sides divisible by ${product} (the product of tokenizer_strides), e.g. ${to}.`,
          fix: { title: `Set img_size to ${to}`, path: 'model.img_size', replaceWith: to },
        },
      ];
    }
    const stsa = model.arch === 'stsa';
    const factor = stsa || model.arch === 'meta-spikeformer' ? 16 : model.arch === 'sdt' && model.pooling_stat ? 2 ** [...model.pooling_stat].filter((c) => c === '1').length : poolingFactor(model.variant);
    if (h % factor === 0 && w % factor === 0) return [];
    const fit = (v: number): [number, number] => [Math.max(factor, Math.floor(v / factor) * factor), Math.ceil(v / factor) * factor];
    const [lower, upper] = fit(h % factor !== 0 ? h : w);
    const to = sizeText([nearest(fit(h), h), nearest(fit(w), w)]);
    const what = stsa ? 'the STSA stem (4 max-pools of stride 2)' : `the ${model.variant} tokenizer (${Math.log2(factor)} max-pools of stride 2)`;
    const square = h === w;
    return [
      {
        severity: 'warning',
        path: 'model.img_size',
        message:
          `model.img_size (${sizeText([h, w])}) is not divisible by ${factor}, the pooling factor of ${what}: the padded pools give a ragged token grid. ` +
          (square ? `Use ${lower} or ${upper}` : `Use sides divisible by ${factor}, e.g. ${to}`) +
          (!stsa && model.variant !== 'cifar' && h % 4 === 0 && w % 4 === 0 ? ', or variant: cifar (factor 4).' : '.'),
        fix: { title: `Set img_size to ${to}`, path: 'model.img_size', replaceWith: to },
      },
    ];
  },
};

const inChannelsMatchDataset: SemanticRule = {
  code: 'in-channels-dataset',
  check({ model, data }) {
    const info = datasetInfo(data.dataset);
    if (!info || info.channels === model.in_channels) return [];
    const what = info.event ? 'event frames with 2 polarity channels' : info.audio ? 'log-mel spectrograms' : info.channels === 3 ? 'RGB images' : 'grayscale images';
    return [
      {
        severity: 'error',
        path: 'model.in_channels',
        message: `model.in_channels is ${model.in_channels}, but data.dataset ${data.dataset} has ${what} (${info.channels} channel${info.channels > 1 ? 's' : ''}): the first convolution would reject the input. Set in_channels: ${info.channels}.`,
        fix: { title: `Set in_channels to ${info.channels} (${data.dataset})`, path: 'model.in_channels', replaceWith: String(info.channels) },
      },
    ];
  },
};

const numClassesMatchDataset: SemanticRule = {
  code: 'num-classes-dataset',
  check({ model, data }) {
    const classes = datasetClasses(data);
    if (classes === undefined || classes === model.num_classes) return [];
    const info = { num_classes: classes };
    const fewer = model.num_classes < info.num_classes;
    return [
      {
        severity: fewer ? 'error' : 'warning',
        path: 'model.num_classes',
        message: fewer
          ? `model.num_classes (${model.num_classes}) is smaller than the ${info.num_classes} classes of ${data.dataset}: labels ≥ ${model.num_classes} have no output. Set num_classes: ${info.num_classes}.`
          : `model.num_classes (${model.num_classes}) is larger than the ${info.num_classes} classes of ${data.dataset}; the extra outputs are never trained. Set num_classes: ${info.num_classes}.`,
        fix: { title: `Set num_classes to ${info.num_classes} (${data.dataset})`, path: 'model.num_classes', replaceWith: String(info.num_classes) },
      },
    ];
  },
};

const eventFrames: SemanticRule = {
  code: 'event-frames',
  check({ model, data }) {
    const info = datasetInfo(data.dataset);
    const frames = data.frames_number;
    if (info?.event) {
      if (frames === null || frames === model.time_steps) return [];
      return [
        {
          severity: 'error',
          path: 'data.frames_number',
          message: `data.frames_number (${frames}) must equal model.time_steps (${model.time_steps}) for ${data.dataset}: the model takes one frame per time step. Delete frames_number (null = time_steps) or set time_steps: ${frames}.`,
          fix: { title: 'Set frames_number to null (= time_steps)', path: 'data.frames_number', replaceWith: 'null' },
        },
      ];
    }
    if (frames === null || !info) return [];
    return [
      {
        severity: 'warning',
        path: 'data.frames_number',
        message: `data.frames_number only applies to event datasets (cifar10-dvs, dvs128-gesture); ${data.dataset} is a static ${info.audio ? 'spectrogram' : 'image'} dataset (each sample is repeated over the ${model.time_steps} time steps). Remove frames_number.`,
        fix: { title: 'Set frames_number to null', path: 'data.frames_number', replaceWith: 'null' },
      },
    ];
  },
};

const imgSizeMatchesDataset: SemanticRule = {
  code: 'img-size-dataset',
  check({ model, data }) {
    const want = datasetImageSize(data);
    const [h, w] = sides(model.img_size);
    if (!want || (want[0] === h && want[1] === w)) return [];
    const info = datasetInfo(data.dataset);
    const source = info?.audio
      ? `its log-mel features are n_mels (${want[0]}) × 1 + 16000 // hop_length (${want[1]})`
      : data.dataset === 'imagenet'
        ? `its images are resized to data.image_size (${want[0]})`
        : info?.event
          ? `its frames have data.sensor_size (${sizeText(want)})`
          : `its images are ${want[0]}×${want[1]}`;
    const to = info?.audio ? `[${want[0]}, ${want[1]}]` : sizeText(want);
    return [
      {
        severity: 'error',
        path: 'model.img_size',
        message: `model.img_size is ${sizeText([h, w])}, but ${data.dataset} samples are ${want[0]}×${want[1]} (${source}); the runtime refuses the mismatch. Set img_size: ${to}.`,
        fix: { title: `Set img_size to ${to} (${data.dataset})`, path: 'model.img_size', replaceWith: to },
      },
    ];
  },
};

/** Model keys one architecture reads (definition `archs`) set on another, which ignores them. */
const archOptions: SemanticRule = {
  code: 'arch-option',
  check({ model }) {
    const out: RuleFinding[] = [];
    for (const [key, spec] of Object.entries(CONFIG_DEFINITION.model.fields) as Array<[string, FieldSpec | { type: 'section' }]>) {
      if (spec.type === 'section' || !spec.archs || spec.archs.includes(model.arch)) continue;
      const value = (model as Record<string, unknown>)[key];
      if (value === null || value === undefined || JSON.stringify(value) === JSON.stringify(spec.default)) continue;
      const reset = JSON.stringify(spec.default);
      out.push({
        severity: 'warning',
        path: `model.${key}`,
        message: `model.${key} only applies to arch ${spec.archs.join(' | ')}; this config's arch is ${model.arch}, which ignores it. Remove ${key}${spec.default === null ? '' : ` (or set it to ${reset})`}, or set arch: ${spec.archs[0]}.`,
        fix: { title: `Set ${key} to ${reset}`, path: `model.${key}`, replaceWith: reset },
      });
    }
    return out;
  },
};

/**
 * Data keys only some readers use, and train augmentations only some data kinds get (definition `datasets`: static
 * images or event frames), set to a non-default value for another dataset.
 */
const datasetOptions: SemanticRule = {
  code: 'dataset-option',
  check({ data, train }) {
    const out: RuleFinding[] = [];
    if (!datasetInfo(data.dataset)) return out;
    const sections = [
      ['data', CONFIG_DEFINITION.data.fields, data],
      ['train', CONFIG_DEFINITION.train.fields, train],
    ] as const;
    for (const [section, fields, values] of sections) {
      for (const [key, spec] of Object.entries(fields) as Array<[string, FieldSpec]>) {
        if (!spec.datasets || spec.datasets.includes(data.dataset) || key === 'frames_number') continue; // frames_number: event-frames
        const value = (values as Record<string, unknown>)[key];
        if (value === null || value === undefined || JSON.stringify(value) === JSON.stringify(spec.default)) continue;
        const reset = JSON.stringify(spec.default);
        const who =
          section === 'data'
            ? `${data.dataset}'s reader ignores it`
            : `${data.dataset} has ${datasetInfo(data.dataset)?.event ? 'event frames' : 'static images'}, so training ignores it`;
        out.push({
          severity: 'warning',
          path: `${section}.${key}`,
          message: `${section}.${key} only applies to dataset ${spec.datasets.join(' | ')}; ${who}. Remove ${key}${spec.default === null ? '' : ` (or set it to ${reset})`}.`,
          fix: { title: `Set ${key} to ${reset}`, path: `${section}.${key}`, replaceWith: reset },
        });
      }
    }
    return out;
  },
};

/** timm / torchvision apply one augmentation policy: RandAugment or AutoAugment. */
const augmentPolicy: SemanticRule = {
  code: 'augment-policy',
  check({ train }) {
    if (train.randaugment === null || train.auto_augment === null) return [];
    return [
      {
        severity: 'error',
        path: 'train.auto_augment',
        message: `train.auto_augment (${train.auto_augment}) and train.randaugment (${train.randaugment}) are both set; the recipes use one policy (Spikeformer ImageNet: AutoAugment, the timm recipes: RandAugment). Set one of them to null.`,
        fix: { title: 'Set auto_augment to null', path: 'train.auto_augment', replaceWith: 'null' },
      },
    ];
  },
};

const variantMatchesData: SemanticRule = {
  code: 'variant-dataset',
  check({ model, data }) {
    const info = datasetInfo(data.dataset);
    if (!info || !(SUPPORTED_VARIANTS as readonly string[]).includes(model.variant)) return [];
    if (model.arch !== 'spikformer' && model.arch !== 'spikingformer') return []; // Spikeformer, STSA: variant changes nothing
    if (info.event && model.variant !== 'dvs') {
      return [
        {
          severity: 'warning',
          path: 'model.variant',
          message: `model.variant is ${model.variant}, but ${data.dataset} is an event dataset: the reference ${model.arch} code uses variant dvs for it (max-pool in every tokenizer stage${model.arch === 'spikformer' ? ', attention scale 0.25' : ''}). Set variant: dvs.`,
          fix: { title: 'Set variant to dvs', path: 'model.variant', replaceWith: 'dvs' },
        },
      ];
    }
    if (!info.event && model.variant === 'dvs') {
      const to = Math.min(...sides(model.img_size)) >= 64 ? 'imagenet' : 'cifar';
      return [
        {
          severity: 'warning',
          path: 'model.variant',
          message: `model.variant dvs is meant for event frames, but ${data.dataset} has static images. Use variant: ${to} (same tokenizer pools as dvs: imagenet; 2 pools for small images: cifar).`,
          fix: { title: `Set variant to ${to}`, path: 'model.variant', replaceWith: to },
        },
      ];
    }
    return [];
  },
};

const lrRange: SemanticRule = {
  code: 'lr-range',
  check({ train }) {
    const high = train.optimizer === 'sgd' ? 1 : 0.01;
    if (train.lr >= 1e-6 && train.lr <= high) return [];
    const typical = train.optimizer === 'sgd' ? '0.1' : '0.0005–0.001 (Spikformer: 5e-4)';
    return [
      {
        severity: 'warning',
        path: 'train.lr',
        message: `train.lr (${train.lr}) is ${train.lr < 1e-6 ? 'very small' : 'very large'} for ${train.optimizer}; typical peak values are ${typical}.`,
      },
    ];
  },
};

const epochsRange: SemanticRule = {
  code: 'epochs-range',
  check({ train }) {
    if (train.epochs <= 1000) return [];
    return [{ severity: 'warning', path: 'train.epochs', message: `train.epochs (${train.epochs}) is unusually large; the papers train 96–400 epochs (300 on CIFAR and ImageNet).` }];
  },
};

const batchSizeRange: SemanticRule = {
  code: 'batch-size-range',
  check({ data }) {
    if (data.batch_size >= 2 && data.batch_size <= 4096) return [];
    return [
      {
        severity: 'warning',
        path: 'data.batch_size',
        message:
          data.batch_size < 2
            ? 'data.batch_size 1: BatchNorm statistics over a single sample are noisy; use at least 8 (the papers use 16–128 per GPU).'
            : `data.batch_size (${data.batch_size}) is unusually large for one process (the papers use 16–128 per GPU); check the memory estimate.`,
      },
    ];
  },
};

const mixupOffEpoch: SemanticRule = {
  code: 'mixup-off-epoch',
  check({ train }) {
    const off = train.mixup_off_epoch;
    if (off === null || off <= train.epochs) return [];
    return [
      {
        severity: 'warning',
        path: 'train.mixup_off_epoch',
        message: `train.mixup_off_epoch (${off}) is after the last epoch (train.epochs = ${train.epochs}), so mixing is never switched off. Set mixup_off_epoch ≤ ${train.epochs} (Spikformer: 200 of 300), or null.`,
        fix: { title: `Set mixup_off_epoch to ${train.epochs}`, path: 'train.mixup_off_epoch', replaceWith: String(train.epochs) },
      },
    ];
  },
};

/** Datasets the runtime downloads into data.root when it is missing (datasets.json `download`; the sources are in runtime/spikestudio/data/download.py). */
export const DOWNLOADABLE_DATASETS: readonly string[] = Object.keys(KNOWN_DATASETS).filter((name) => KNOWN_DATASETS[name].download);

const pathsExist: SemanticRule = {
  code: 'path-not-found',
  check({ model, data }, ctx) {
    if (!ctx.checkPaths) return [];
    const out: RuleFinding[] = [];
    const downloads = data.download !== false && DOWNLOADABLE_DATASETS.includes(data.dataset);
    if (data.root !== null && !downloads && !ctx.fileExists(data.root)) {
      out.push({ severity: 'warning', path: 'data.root', message: `data.root: folder ${data.root} does not exist (relative paths start at the config file's folder). Create it, fix the path, or delete data.root to use the default location.` });
    }
    if (model.init_from !== null && !ctx.fileExists(model.init_from)) {
      out.push({ severity: 'warning', path: 'model.init_from', message: `model.init_from: checkpoint ${model.init_from} does not exist (relative paths start at the config file's folder). Fix the path or set init_from: null.` });
    }
    return out;
  },
};

/** What `import-checkpoint` records beside a converted checkpoint (OUT.json): read instead of the .pth itself. */
interface CheckpointSidecar {
  arch?: string;
  qkv_layout?: string;
  converted_from?: string | null;
}

function checkpointSidecar(initFrom: string, ctx: RuleContext): CheckpointSidecar | null {
  const text = ctx.readSmallText?.(`${initFrom}.json`);
  if (!text) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as CheckpointSidecar) : null;
  } catch {
    return null;
  }
}

const initFromFits: SemanticRule = {
  code: 'init-from-checkpoint',
  check({ model }, ctx) {
    if (!ctx.checkPaths || model.init_from === null) return [];
    const meta = checkpointSidecar(model.init_from, ctx);
    if (!meta) return [];
    const from = meta.converted_from ? ` (converted from the ${meta.converted_from})` : '';
    if (typeof meta.arch === 'string' && meta.arch !== model.arch) {
      return [{
        severity: 'error',
        path: 'model.init_from',
        message: `model.init_from: ${model.init_from} holds ${meta.arch} weights${from}, but model.arch is ${model.arch}. Set model.arch: ${meta.arch} or choose another checkpoint.`,
        fix: { title: `Set model.arch to ${meta.arch}`, path: 'model.arch', replaceWith: meta.arch },
      }];
    }
    const layout = model.qkv_layout ?? 'paper';
    if (model.arch === 'stsa' && (meta.qkv_layout === 'paper' || meta.qkv_layout === 'reference') && meta.qkv_layout !== layout) {
      return [{
        severity: 'error',
        path: 'model.init_from',
        message: `model.init_from: ${model.init_from} holds STSA weights trained with qkv_layout: ${meta.qkv_layout}${from}, but model.qkv_layout is ${layout}: the same tensors compute a different function under the other layout. Set model.qkv_layout: ${meta.qkv_layout} (or re-convert with import-checkpoint --qkv-layout ${layout} to fine-tune them under ${layout}).`,
        fix: { title: `Set model.qkv_layout to ${meta.qkv_layout}`, path: 'model.qkv_layout', replaceWith: meta.qkv_layout },
      }];
    }
    return [];
  },
};

const memoryFits: SemanticRule = {
  code: 'gpu-memory',
  check({ model, data, train }, ctx) {
    if (ctx.gpuMemoryMb === null || ctx.gpuMemoryMb <= 0 || train.device === 'cpu') return [];
    let prediction;
    try {
      prediction = predictModel(model);
    } catch (error) {
      if (error instanceof ArchError) return [];
      throw error;
    }
    const memOpts = {
      amp: train.amp,
      pack_spikes: train.pack_spikes,
      recompute_membranes: train.recompute_membranes,
      checkpoint_blocks: train.checkpoint_blocks,
      temporal_grad: train.temporal_grad,
    };
    const est = estimateTrainingMemory(prediction, data.batch_size, memOpts);
    if (est.total_mb <= ctx.gpuMemoryMb) return [];
    const fits = largestBatchThatFits(prediction, ctx.gpuMemoryMb, memOpts);
    const gb = (mb: number) => (mb / 1024).toFixed(1);
    return [
      {
        severity: 'warning',
        path: 'data.batch_size',
        message:
          `Training needs about ${gb(est.total_mb)} GB (rough estimate: batch ${data.batch_size} × T ${model.time_steps} × activations) but the GPU has ${gb(ctx.gpuMemoryMb)} GB. ` +
          (fits > 0 ? `The largest batch that fits is about ${fits}: set data.batch_size: ${fits}${train.amp === false ? ', or turn on train.amp: bf16' : ''}.` : 'Not even batch 1 fits: reduce embed_dim, depth, img_size or time_steps.') +
          (train.checkpoint_blocks ? '' : ' train.checkpoint_blocks: true keeps far less for backward (exact, about +30 % step time).'),
        ...(fits > 0 ? { fix: { title: `Set batch_size to ${fits}`, path: 'data.batch_size', replaceWith: String(fits) } } : {}),
      },
    ];
  },
};

const warmupShorterThanTraining: SemanticRule = {
  code: 'warmup-too-long',
  check({ train }) {
    if (train.warmup_epochs < train.epochs) return [];
    return [
      {
        severity: 'warning',
        path: 'train.warmup_epochs',
        message: `train.warmup_epochs (${train.warmup_epochs}) is not shorter than train.epochs (${train.epochs}): the learning rate never leaves warm-up. Lower warmup_epochs or raise epochs.`,
      },
    ];
  },
};

const minLrBelowLr: SemanticRule = {
  code: 'min-lr-above-lr',
  check({ train }) {
    if (train.schedule === 'constant' || train.min_lr <= train.lr) return [];
    return [
      {
        severity: 'warning',
        path: 'train.min_lr',
        message: `train.min_lr (${train.min_lr}) is above train.lr (${train.lr}), so the ${train.schedule} schedule would raise the learning rate. Set min_lr below lr.`,
      },
    ];
  },
};

const ampNeedsGpu: SemanticRule = {
  code: 'amp-on-cpu',
  check({ train }) {
    if (train.amp !== 'fp16' || train.device !== 'cpu') return [];
    return [
      {
        severity: 'warning',
        path: 'train.amp',
        message: 'train.amp: fp16 needs a CUDA device; on train.device: cpu use amp: bf16 or amp: false.',
      },
    ];
  },
};

export const SEMANTIC_RULES: readonly SemanticRule[] = [
  embedDimMultipleOf8,
  headsDivideEmbedDim,
  stageWidths,
  atLeastOneTimeStep,
  imgSizeFitsTokenizer,
  inChannelsMatchDataset,
  numClassesMatchDataset,
  eventFrames,
  imgSizeMatchesDataset,
  variantMatchesData,
  archOptions,
  datasetOptions,
  lrRange,
  epochsRange,
  batchSizeRange,
  warmupShorterThanTraining,
  minLrBelowLr,
  mixupOffEpoch,
  augmentPolicy,
  ampNeedsGpu,
  pathsExist,
  memoryFits,
  initFromFits,
];

/** Your own model (arch custom, or a plugin's arch): the rules about the built-in architectures' structure do not apply. */
export function isCustomModel(model: { arch: string; plugins?: readonly string[] | null }): boolean {
  return model.arch === 'custom' || (Array.isArray(model.plugins) && model.plugins.length > 0 && !BUILTIN_ARCHS.includes(model.arch));
}
const BUILTIN_ARCHS = ['spikformer', 'spikingformer', 'spikeformer', 'stsa'];
const BUILT_IN_ONLY = new Set(['embed-dim-multiple-of-8', 'heads-divide-dim', 'img-size-pooling', 'variant-dataset', 'gpu-memory']);

const customModelFiles: SemanticRule = {
  code: 'custom-model',
  check({ model }, ctx) {
    if (model.arch !== 'custom') return [];
    const out: RuleFinding[] = [];
    if (!model.source) out.push({ severity: 'error', path: 'model.arch', message: 'model.arch custom needs model.source (the .py file of your model, relative to this config) and model.entry (its class or function).' });
    else if (ctx.checkPaths && !ctx.fileExists(model.source)) out.push({ severity: 'error', path: 'model.source', message: `model.source: file ${model.source} does not exist (relative paths start at the config file's folder).` });
    if (!model.entry) out.push({ severity: 'error', path: model.source ? 'model.source' : 'model.arch', message: 'model.entry is missing: name the class or function in model.source that builds the model.' });
    return out;
  },
};

export function runSemanticRules(config: ResolvedConfig, ctx: Partial<RuleContext> = {}): Array<RuleFinding & { code: string }> {
  const full: RuleContext = { ...DEFAULT_RULE_CONTEXT, ...ctx };
  const custom = isCustomModel(config.model);
  const rules = custom ? [...SEMANTIC_RULES.filter((r) => !BUILT_IN_ONLY.has(r.code)), customModelFiles] : SEMANTIC_RULES;
  return rules.flatMap((rule) => rule.check(config, full).map((finding) => ({ ...finding, code: rule.code })));
}
