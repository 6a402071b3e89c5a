// Which PyTorch build fits this machine: the CUDA wheel index that the NVIDIA driver reported by `nvidia-smi`
// can run, or the CPU build. Pure apart from detectNvidiaGpu (which runs nvidia-smi).

import { spawn } from 'node:child_process';

export const TORCH_INDEX_BASE = 'https://download.pytorch.org/whl';
export const TORCH_CPU_INDEX = `${TORCH_INDEX_BASE}/cpu`;

export interface CudaBuild {
  /** the wheel index suffix: https://download.pytorch.org/whl/<tag> */
  tag: string;
  /** CUDA toolkit version of the build */
  cuda: string;
  /** minimum driver version (NVIDIA's CUDA compatibility table) */
  minDriver: { linux: string; win32: string };
  /** why this row exists when it is not the toolkit's own minimum */
  note?: string;
}

/**
 * Newest first. PyTorch's current wheels are published for CUDA 12.6, 12.8 and 13.0; the driver minimums are
 * NVIDIA's "CUDA toolkit and corresponding driver versions" (GA releases). The last row is CUDA 12's minor-version
 * compatibility: a 12.x build runs on any driver ≥ 525.60.13 (Linux) / 527.41 (Windows).
 */
export const CUDA_BUILDS: readonly CudaBuild[] = [
  { tag: 'cu130', cuda: '13.0', minDriver: { linux: '580.65.06', win32: '580.88' } },
  { tag: 'cu128', cuda: '12.8', minDriver: { linux: '570.26', win32: '570.65' } },
  { tag: 'cu126', cuda: '12.6', minDriver: { linux: '560.28.03', win32: '560.76' } },
  { tag: 'cu126', cuda: '12.6', minDriver: { linux: '525.60.13', win32: '527.41' }, note: 'CUDA 12 minor-version compatibility' },
];

/** -1, 0, 1 comparing dotted driver versions numerically ("570.26" < "570.124.06"). */
export function compareDriverVersions(a: string, b: string): number {
  const pa = a.trim().split('.').map((x) => parseInt(x, 10) || 0);
  const pb = b.trim().split('.').map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** The newest CUDA build this driver runs, or null when the driver is older than every build's minimum. */
export function cudaBuildForDriver(driverVersion: string, platform: NodeJS.Platform = process.platform): CudaBuild | null {
  if (!/^\d+(\.\d+)*$/.test(driverVersion.trim())) return null;
  const key = platform === 'win32' ? 'win32' : 'linux';
  return CUDA_BUILDS.find((b) => compareDriverVersions(driverVersion, b.minDriver[key]) >= 0) ?? null;
}

export interface NvidiaGpu {
  name: string;
  driverVersion: string;
  memoryMb: number | null;
}

/** Parses `nvidia-smi --query-gpu=driver_version,name,memory.total --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(stdout: string): NvidiaGpu[] {
  const gpus: NvidiaGpu[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const parts = line.split(',').map((s) => s.trim());
    if (parts.length < 2 || !/^\d+(\.\d+)+$/.test(parts[0])) continue;
    const memory = Number(parts[2]);
    gpus.push({ driverVersion: parts[0], name: parts[1], memoryMb: Number.isFinite(memory) && parts[2] !== '' ? memory : null });
  }
  return gpus;
}

/** Runs nvidia-smi; [] when it is missing, fails or finds no GPU. */
export function detectNvidiaGpus(command = 'nvidia-smi', timeoutMs = 15_000): Promise<NvidiaGpu[]> {
  return new Promise((resolve) => {
    let out = '';
    let child;
    try {
      child = spawn(command, ['--query-gpu=driver_version,name,memory.total', '--format=csv,noheader,nounits'], { stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      resolve([]);
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', () => {
      clearTimeout(timer);
      resolve([]);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? parseNvidiaSmi(out) : []);
    });
  });
}

export interface TorchBuildChoice {
  /** the index to install torch from; null: pip's own index (PyPI or the user's pip configuration) */
  indexUrl: string | null;
  /** 'cu128', 'cpu' or 'default' (PyPI's build: CPU on Windows, CPU/MPS on macOS) */
  build: string;
  /** one line for the log and the progress message */
  reason: string;
}

/** The torch build for this machine: the CUDA index that fits the first GPU's driver, else the CPU build. */
export function chooseTorchBuild(gpus: readonly NvidiaGpu[], platform: NodeJS.Platform = process.platform): TorchBuildChoice {
  if (platform === 'darwin') return { indexUrl: null, build: 'default', reason: 'macOS: the PyPI build (CPU and Apple MPS)' };
  const gpu = gpus[0];
  if (gpu) {
    const cuda = cudaBuildForDriver(gpu.driverVersion, platform);
    if (cuda) {
      return {
        indexUrl: `${TORCH_INDEX_BASE}/${cuda.tag}`,
        build: cuda.tag,
        reason: `${gpu.name}, driver ${gpu.driverVersion}: the CUDA ${cuda.cuda} build${cuda.note ? ` (${cuda.note})` : ''}`,
      };
    }
    const oldest = CUDA_BUILDS[CUDA_BUILDS.length - 1].minDriver[platform === 'win32' ? 'win32' : 'linux'];
    return {
      indexUrl: TORCH_CPU_INDEX,
      build: 'cpu',
      reason: `${gpu.name}, driver ${gpu.driverVersion} is older than ${oldest}, the oldest driver current CUDA builds of PyTorch run on: the CPU build (update the NVIDIA driver and run the setup again to train on the GPU)`,
    };
  }
  return { indexUrl: TORCH_CPU_INDEX, build: 'cpu', reason: 'no NVIDIA GPU found (nvidia-smi): the CPU build' };
}
