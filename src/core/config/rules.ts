// Semantic rules: checks that need several keys at once. They run on the merged config with every default
// filled in, after structural validation passed. Add a rule by appending to SEMANTIC_RULES.

import type { ResolvedConfig } from './definition';
import type { DiagnosticSeverity } from './diagnostics';

export interface RuleFinding {
  severity: DiagnosticSeverity;
  /** the dotted key the diagnostic points at */
  path: string;
  message: string;
}

export interface SemanticRule {
  code: string;
  check(config: ResolvedConfig): RuleFinding[];
}

const headsDivideEmbedDim: SemanticRule = {
  code: 'heads-divide-dim',
  check({ model }) {
    if (model.embed_dim % model.num_heads === 0) return [];
    const divisors = Array.from({ length: 16 }, (_, i) => i + 1).filter((h) => model.embed_dim % h === 0);
    return [
      {
        severity: 'error',
        path: 'model.num_heads',
        message:
          `model.num_heads (${model.num_heads}) must divide model.embed_dim (${model.embed_dim}) evenly. ` +
          `Use num_heads in ${divisors.join(', ')}, or change embed_dim to a multiple of ${model.num_heads} (e.g. ${Math.ceil(model.embed_dim / model.num_heads) * model.num_heads}).`,
      },
    ];
  },
};

const atLeastOneTimeStep: SemanticRule = {
  code: 'time-steps',
  check({ model }) {
    if (Number.isInteger(model.time_steps) && model.time_steps >= 1) return [];
    return [{ severity: 'error', path: 'model.time_steps', message: `model.time_steps must be an integer ≥ 1 (it is ${model.time_steps}). Spikformer uses T = 4.` }];
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
  headsDivideEmbedDim,
  atLeastOneTimeStep,
  warmupShorterThanTraining,
  minLrBelowLr,
  ampNeedsGpu,
];

export function runSemanticRules(config: ResolvedConfig): Array<RuleFinding & { code: string }> {
  return SEMANTIC_RULES.flatMap((rule) => rule.check(config).map((finding) => ({ ...finding, code: rule.code })));
}
