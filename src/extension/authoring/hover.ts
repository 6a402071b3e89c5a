// Hovers on *.spike.yaml keys and values (the core's hoverAt: the key's documentation, the preset's paper row,
// the model's derived numbers). When a run of this config has an eval `firing` event, its measured firing rates
// are passed on, so the energy line also shows the estimate at the measured rates.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { hoverAt } from '../../core/config';
import type { FiringEvent } from '../../core/protocol';
import { EVENTS_FILE, readEvents } from '../../core/runs';
import { isSpikeConfig, SPIKE_CONFIG_SELECTOR } from '../config';
import { Disposable } from '../dispose';
import type { RunRegistry } from '../runs';
import { customEntryOf, entryHover } from '../customModel';
import { toVscodeRange } from './codeActions';

export interface MeasuredRates {
  runId: string;
  epoch: number;
  rates: Record<string, number>;
}

/** How many of a config's newest runs are searched for an eval firing event. */
const RUNS_SEARCHED = 5;
const CACHE_MS = 10_000;

function samePath(a: string | null, b: string): boolean {
  if (!a) return false;
  const x = path.resolve(a);
  const y = path.resolve(b);
  return process.platform === 'win32' || process.platform === 'darwin' ? x.toLowerCase() === y.toLowerCase() : x === y;
}

/** The last eval firing event of a run's events, as rates by layer name. */
export function lastEvalRates(events: readonly { type: string }[]): { epoch: number; rates: Record<string, number> } | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.type !== 'firing') continue;
    const f = e as FiringEvent;
    if (f.split !== 'eval' || !Array.isArray(f.layers) || f.layers.length === 0) continue;
    const rates: Record<string, number> = {};
    for (const layer of f.layers) if (typeof layer.name === 'string' && Number.isFinite(layer.rate)) rates[layer.name] = layer.rate;
    if (Object.keys(rates).length) return { epoch: f.epoch, rates };
  }
  return undefined;
}

export class ConfigHoverProvider extends Disposable implements vscode.HoverProvider {
  private readonly cache = new Map<string, { at: number; value: MeasuredRates | undefined }>();

  constructor(private readonly runs: RunRegistry) {
    super();
    this._register(runs.onDidChangeRuns(() => this.cache.clear()));
  }

  static register(provider: ConfigHoverProvider): vscode.Disposable {
    return vscode.languages.registerHoverProvider(SPIKE_CONFIG_SELECTOR, provider);
  }

  /** The measured firing rates of the newest run of this config that has an eval firing event. */
  measuredRates(file: string): MeasuredRates | undefined {
    const cached = this.cache.get(file);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.value;
    let value: MeasuredRates | undefined;
    try {
      const runs = this.runs.list().filter((r) => samePath(r.source, file)).slice(0, RUNS_SEARCHED);
      for (const run of runs) {
        const found = lastEvalRates(readEvents(path.join(run.dir, EVENTS_FILE)).events);
        if (found) {
          value = { runId: run.id, ...found };
          break;
        }
      }
    } catch {
      value = undefined;
    }
    this.cache.set(file, { at: Date.now(), value });
    return value;
  }

  provideHover(doc: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    if (!isSpikeConfig(doc)) return undefined;
    const file = doc.uri.scheme === 'untitled' ? null : doc.uri.fsPath;
    const measured = file ? this.measuredRates(file) : undefined;
    const result = hoverAt(doc.getText(), file, position.line, position.character, measured ? { rates: measured.rates } : {});
    if (!result) return undefined;
    let markdown = result.markdown;
    if (measured && markdown.includes('measured rates')) markdown += `\n\n_Measured rates: run \`${measured.runId}\`, eval of epoch ${measured.epoch}._`;
    const md = new vscode.MarkdownString(markdown);
    md.supportHtml = false;
    // model.entry of your own model: its signature and docstring, from the last describe
    const entry = file && /^\s*entry\s*:/.test(doc.lineAt(position.line).text) ? customEntryOf(file) : undefined;
    if (entry) return new vscode.Hover([entryHover(entry), md], toVscodeRange(result.range));
    return new vscode.Hover(md, toVscodeRange(result.range));
  }
}
