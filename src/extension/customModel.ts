// Your own model (model.arch custom / model.plugins): the runtime describes it in a background process when its
// config or one of its files is opened or saved (core/runtime/describe: cached by file hashes, superseded requests
// killed, timeout); the result feeds the graph panel and the side panel (graphOfConfig), the hover on model.entry,
// and diagnostics: an exception raised by the model's code at its file and line, a bad model.args key at that key,
// the runtime's warnings (no recognised neuron, state kept between calls) on model.arch. Nothing runs in a
// restricted (untrusted) workspace. Typing never waits: describing starts on open and save only.
// A preset's graph is measured the same way on request (the graph panel's "Compare with measured"), and again on each
// save of that config once asked for.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isPlainObject } from '../core/config/presets';
import { parseYamlWithRanges } from '../core/config/parse';
import { loadConfig, registerPluginPresets } from '../core/config';
import type { ErrorEvent, GraphModel } from '../core/protocol';
import { Describer, describeInputs, findPython, isCustomModelSection, type DescribeError, type DescribeRequest, type DescribeResult, type EntryInfo } from '../core/runtime';
import { config, isSpikeConfig, isSpikeConfigPath } from './config';
import type { Ctx } from './ctx';
import { DIAGNOSTIC_SOURCE } from './diagnostics';
import { Disposable } from './dispose';
import { pythonExtensionInterpreter } from './python';

type Graph = { model: GraphModel | null; error?: { path: string; message: string } };

let current: CustomModels | undefined;

/** The described graph of a custom config (undefined: not a custom config, or not described yet). */
export function customGraphOf(file: string): Graph | undefined {
  return current?.graphOf(file);
}

/** The entry (signature, docstring) of a custom config's model, from its last describe. */
export function customEntryOf(file: string): EntryInfo | undefined {
  return current?.entryOf(file);
}

/** A run of `configFile` failed with an error event: user-code errors become diagnostics at their file and line. */
export function reportCustomRunError(configFile: string | null, e: ErrorEvent): void {
  current?.reportRunError(configFile, e);
}

/** The measured graph of a preset config, once the graph panel asked for it (measureGraphOf). */
export function measuredGraphOf(file: string): GraphModel['measured'] {
  return current?.measuredOf(file);
}

/** Describe a preset config by running its model (the graph panel's "Compare with measured"). */
export function measureGraph(file: string): void {
  void current?.measure(file);
}

/** Fires the config path whenever a custom config was described again (the graph views redraw). */
export function onCustomModelDescribed(listener: (file: string) => void): vscode.Disposable {
  return current ? current.onDidChange(listener) : { dispose: () => undefined };
}

export class CustomModels extends Disposable {
  readonly describer = new Describer();
  readonly collection: vscode.DiagnosticCollection;
  private readonly latest = new Map<string, DescribeResult>();
  /** custom configs seen, with the files they read */
  private readonly inputs = new Map<string, string[]>();
  /** uris that got diagnostics from each config */
  private readonly published = new Map<string, vscode.Uri[]>();
  /** presets measured on request (the graph panel's comparison), by config */
  private readonly measured = new Map<string, DescribeResult>();
  private readonly changed = this._register(new vscode.EventEmitter<string>());
  readonly onDidChange = this.changed.event;

  constructor(private readonly ctx: Ctx) {
    super();
    current = this;
    this._register({ dispose: () => (current = current === this ? undefined : current) });
    this._register({ dispose: () => this.describer.dispose() });
    this.collection = this._register(vscode.languages.createDiagnosticCollection(`${DIAGNOSTIC_SOURCE}-model`));
    this._register(vscode.workspace.onDidOpenTextDocument((doc) => this.touched(doc)));
    this._register(vscode.workspace.onDidSaveTextDocument((doc) => this.touched(doc)));
    this._register(vscode.workspace.onDidGrantWorkspaceTrust(() => [...this.inputs.keys()].forEach((f) => void this.refresh(f))));
    for (const doc of vscode.workspace.textDocuments) this.touched(doc);
  }

  graphOf(file: string): Graph | undefined {
    const key = path.resolve(file);
    if (!this.inputs.has(key)) return undefined;
    const r = this.latest.get(key);
    if (!r) return { model: null, error: { path: 'model.arch', message: 'describing your model…' } };
    if (!r.ok) return { model: null, error: { path: r.error.key ?? 'model.source', message: oneLine(r.error) } };
    const m = r.model;
    return { model: { arch: m.arch, variant: m.variant, params: m.params, time_steps: m.time_steps, num_classes: m.num_classes, token_grid: m.token_grid, layers: m.layers, edges: m.edges, graph: m.graph } };
  }

  measuredOf(file: string): GraphModel['measured'] {
    const r = this.measured.get(path.resolve(file));
    if (!r) return undefined;
    return r.ok ? { params: r.model.params, layers: r.model.layers, edges: r.model.edges } : { params: 0, layers: [], error: oneLine(r.error) };
  }

  /** Describe a built-in preset by running it (for the comparison with its predicted graph). */
  async measure(file: string): Promise<void> {
    const key = path.resolve(file);
    const body = await this.textOf(key);
    const model = body === undefined ? undefined : (loadConfig(body, key, { checkPaths: false }).resolved?.model as unknown as Record<string, unknown> | undefined);
    if (!model || isCustomModelSection(model)) return;
    const result = await this.describer.describe(await this.request(key, model, `${key}#measure`));
    if (result === 'cancelled') return;
    this.measured.set(key, result);
    this.changed.fire(key);
  }

  entryOf(file: string): EntryInfo | undefined {
    const r = this.latest.get(path.resolve(file));
    return r?.ok ? r.model.entry : undefined;
  }

  /** A training run of `configFile` failed in the researcher's code: show it there. */
  reportRunError(configFile: string | null, e: ErrorEvent & { file?: string; line?: number; key?: string }): void {
    if (!configFile || (!e.file && !e.key)) return;
    this.publish(path.resolve(configFile), { ok: false, error: { kind: e.kind, message: e.message, hint: e.hint, file: e.file, line: e.line, key: e.key } });
  }

  private touched(doc: vscode.TextDocument): void {
    if (doc.uri.scheme !== 'file') return;
    const file = path.resolve(doc.uri.fsPath);
    if (isSpikeConfig(doc)) {
      void this.refresh(file, doc.getText());
      if (this.measured.has(file)) void this.measure(file);
      return;
    }
    if (!file.endsWith('.py')) return;
    for (const [cfg, files] of this.inputs) {
      if (files.some((f) => f === file || path.dirname(f) === path.dirname(file))) void this.refresh(cfg);
    }
  }

  /** Describe a config again (no-op for built-in architectures). */
  async refresh(file: string, text?: string): Promise<void> {
    const key = path.resolve(file);
    const body = text ?? (await this.textOf(key));
    if (body === undefined || !isSpikeConfigPath(key)) return;
    const loaded = loadConfig(body, key, { checkPaths: false });
    const model = loaded.resolved?.model as unknown as Record<string, unknown> | undefined;
    if (!model) {
      await this.describePluginsOf(key, body); // `extends:` a plugin preset not described yet
      return;
    }
    if (!isCustomModelSection(model)) {
      if (this.inputs.delete(key)) this.clear(key);
      return;
    }
    this.inputs.set(key, describeInputs(model).map((f) => path.resolve(f)));
    const result = await this.describer.describe(await this.request(key, model, key));
    if (result === 'cancelled') return;
    this.learnPresets(result);
    if (!result.ok) this.ctx.log.info(`describe ${path.basename(key)}: ${oneLine(result.error)}`);
    this.latest.set(key, result);
    this.publish(key, result);
    this.changed.fire(key);
  }

  /** Presets registered by the plugins a describe imported: known to validation, hover and New Config… from now on. */
  private learnPresets(result: DescribeResult): boolean {
    if (!result.presets || !registerPluginPresets(result.presets)) return false;
    this.ctx.diagnostics.revalidateAll();
    return true;
  }

  /**
   * A config that does not resolve (e.g. `extends:` a plugin preset not described yet) but lists model.plugins: the
   * plugins are imported to learn their presets; when that taught new ones, the config is described again.
   */
  private async describePluginsOf(key: string, body: string): Promise<void> {
    const file = parseYamlWithRanges(body).value;
    const raw = isPlainObject(file) && isPlainObject(file.model) ? file.model : undefined;
    const plugins = Array.isArray(raw?.plugins) ? raw.plugins.filter((p): p is string => typeof p === 'string') : [];
    if (!raw || !plugins.length || !vscode.workspace.isTrusted) return;
    const model = { ...raw, plugins: plugins.map((p) => path.resolve(path.dirname(key), p)) };
    const result = await this.describer.describe(await this.request(key, model, key));
    if (result !== 'cancelled' && this.learnPresets(result)) await this.refresh(key);
  }

  /** The open document's text, else the file's. */
  private async textOf(key: string): Promise<string | undefined> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && path.resolve(d.uri.fsPath) === key);
    return open?.getText() ?? (await vscode.workspace.fs.readFile(vscode.Uri.file(key)).then((b) => Buffer.from(b).toString('utf8'), () => undefined));
  }

  /** A describe request for a config's model; `slot`: one describe in flight per slot. */
  private async request(key: string, model: Record<string, unknown>, slot: string): Promise<DescribeRequest> {
    const uri = vscode.Uri.file(key);
    const root = vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath ?? path.dirname(key);
    const python = findPython({ configured: config.pythonPath(uri), pythonExtension: await pythonExtensionInterpreter(uri, this.ctx.log), cwd: root });
    return {
      python: python.path,
      runtimeRoot: this.ctx.runtimeRoot,
      resolved: { model, source: key },
      configPath: slot,
      restricted: !vscode.workspace.isTrusted,
      env: { ...process.env, ...(vscode.workspace.isTrusted ? {} : { SPIKESTUDIO_RESTRICTED: '1' }) },
    };
  }

  private clear(configFile: string): void {
    for (const uri of this.published.get(configFile) ?? []) this.collection.delete(uri);
    this.published.delete(configFile);
    this.latest.delete(configFile);
  }

  private publish(configFile: string, result: DescribeResult): void {
    for (const uri of this.published.get(configFile) ?? []) this.collection.delete(uri);
    const configUri = vscode.Uri.file(configFile);
    const text = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === configFile)?.getText();
    const ranges = text !== undefined ? loadConfig(text, configFile, { checkPaths: false }).ranges : new Map();
    const at = (dotted: string): vscode.Range => {
      const parts = dotted.split('.');
      while (parts.length) {
        const r = ranges.get(parts.join('.'));
        if (r) {
          const k = r.key;
          return new vscode.Range(k.start.line, k.start.character, k.end.line, k.end.character);
        }
        parts.pop();
      }
      return new vscode.Range(0, 0, 0, 0);
    };
    const byUri = new Map<string, { uri: vscode.Uri; list: vscode.Diagnostic[] }>();
    const add = (uri: vscode.Uri, d: vscode.Diagnostic) => {
      d.source = DIAGNOSTIC_SOURCE;
      const slot = byUri.get(uri.toString()) ?? { uri, list: [] };
      slot.list.push(d);
      byUri.set(uri.toString(), slot);
    };
    if (!result.ok && result.error.kind !== 'restricted') {
      const e = result.error;
      if (e.file && e.line) {
        const line = Math.max(0, e.line - 1);
        const d = new vscode.Diagnostic(new vscode.Range(line, 0, line, 1000), oneLine(e), vscode.DiagnosticSeverity.Error);
        d.code = 'model-code';
        add(vscode.Uri.file(e.file), d);
      }
      const where = e.key ?? (e.file ? 'model.source' : 'model.arch');
      const d = new vscode.Diagnostic(at(where), `${oneLine(e)}${e.file && e.line ? ` (${path.basename(e.file)}:${e.line})` : ''}`, vscode.DiagnosticSeverity.Error);
      d.code = e.kind === 'user_code' ? 'model-code' : 'model-describe';
      add(configUri, d);
    }
    if (result.ok) {
      for (const w of result.model.warnings ?? []) {
        const d = new vscode.Diagnostic(at('model.arch'), w, vscode.DiagnosticSeverity.Warning);
        d.code = 'model-warning';
        add(configUri, d);
      }
    }
    for (const { uri, list } of byUri.values()) this.collection.set(uri, list);
    this.published.set(configFile, [...byUri.values()].map((s) => s.uri));
  }
}

function oneLine(e: DescribeError): string {
  return `${e.message}${e.hint ? ` — ${e.hint}` : ''}`;
}

/** Markdown for the hover on model.entry: the entry's signature and docstring. */
export function entryHover(entry: EntryInfo): vscode.MarkdownString {
  const md = new vscode.MarkdownString();
  md.appendCodeblock(entry.signature, 'python');
  if (entry.doc) md.appendText(`${entry.doc}\n`);
  if (entry.file) md.appendMarkdown(`\n*${path.basename(entry.file)}${entry.line ? `:${entry.line}` : ''}*`);
  return md;
}
