// What the config knows about the datasets (for rules, hovers and completions): runtime/spikestudio/data/datasets.json,
// the one table the runtime's readers and its ONNX metadata read too. The names are the readers of the runtime's
// registry (runtime/spikestudio/data/registry.py), also the values of `data.dataset` (definition.ts).
import datasetsJson from '../../../runtime/spikestudio/data/datasets.json';

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
  /** per-channel normalisation of the reader ((x/255 - mean) / std); absent: not normalised this way */
  mean?: readonly number[];
  std?: readonly number[];
  /** class names in label order (the ONNX metadata's spikestudio.class_names) */
  class_names?: readonly string[];
  /** audio: samples per second of the clips (1 s each) */
  sample_rate?: number;
  /** Speech Commands: the vocabulary (data.classes all, sorted) and the 10 keywords of data.classes 12 */
  words?: readonly string[];
  keywords?: readonly string[];
  /** the runtime can fetch it from its publisher (data.download) */
  download: boolean;
}

export const KNOWN_DATASETS: Readonly<Record<string, DatasetInfo>> = datasetsJson.datasets;

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
  if (info.audio) return [data.n_mels || 40, 1 + Math.floor((info.sample_rate ?? 16000) / (data.hop_length || 160))]; // centred STFT of a 1 s clip
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
