// The one-line text of a `download` event (dataset download or frame-cache build), shared by the CLI's progress line
// and the VS Code progress notification: what is fetched, how much, how fast, and the ETA.

import type { DownloadEvent } from '../protocol';

export const DATASET_MIRROR_ENV = 'SPIKE_STUDIO_DATASET_MIRROR';

function size(n: number, unit: string | undefined): string {
  if (unit === 'samples') return `${Math.round(n)}`;
  if (unit === 'files') return `${Math.round(n)}`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${Math.round(n)} B`;
}

/** 75 → "1m15s", 3725 → "1h02m", null → "--" */
export function etaText(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** "downloading cifar-10-python.tar.gz: 45.2 MB / 170.5 MB (27%) · 5.1 MB/s · ETA 25s" and the other stages. */
export function downloadMessage(e: DownloadEvent): string {
  const file = e.file ?? e.dataset;
  const amount = (): string => {
    if (typeof e.done !== 'number') return '';
    const total = typeof e.total === 'number' && e.total > 0 ? e.total : null;
    let text = total !== null ? `${size(e.done, e.unit)} / ${size(total, e.unit)} (${Math.floor((100 * e.done) / total)}%)` : size(e.done, e.unit);
    if (typeof e.rate === 'number' && e.rate > 0) text += ` · ${size(e.rate, e.unit)}${e.unit === 'samples' ? ' samples' : ''}/s`;
    if (total !== null) text += ` · ETA ${etaText(e.eta_s)}`;
    return text;
  };
  switch (e.stage) {
    case 'wait':
      return `${e.dataset}: waiting for another run that downloads it…`;
    case 'download': {
      const resumed = e.resumed_from ? ' (resumed)' : '';
      const a = amount();
      return `downloading ${file}${resumed}${a ? `: ${a}` : '…'}`;
    }
    case 'verify':
      return `verifying ${file} (checksum)…`;
    case 'extract':
      return `extracting ${file}…`;
    case 'frames': {
      const a = amount();
      return `${e.dataset}: building the frame cache${a ? `: ${a}` : '…'}`;
    }
    case 'done':
      return `${e.dataset}: downloaded and extracted (${file})`;
    case 'reused':
      return `${e.dataset}: reusing the download another run just finished`;
    default:
      return `${e.dataset}: ${e.stage}`;
  }
}

/** Stages that end the download display (training follows). */
export function downloadFinished(e: DownloadEvent): boolean {
  return e.stage === 'done' || e.stage === 'reused' || (e.stage === 'frames' && typeof e.total === 'number' && e.done === e.total);
}
