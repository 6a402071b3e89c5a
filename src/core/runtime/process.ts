// Starting and controlling `python -m spikestudio train` (contracts §1, §4).

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ControlMessage, RuntimeEvent } from '../protocol';
import { type Disposable, Emitter } from '../util/emitter';
import { JsonLinesParser, type ParsedLine } from './jsonlines';
import { runtimeEnv } from './python';

export interface StartTrainingOptions {
  python: string;
  /** folder holding the `spikestudio` package (prepended to PYTHONPATH) */
  runtimeRoot: string;
  /** config.resolved.json (ignored with `resume`: the runtime reads the run's own config) */
  resolvedConfigPath: string;
  runDir: string;
  /** continue runDir from checkpoints/last.pt: `train --resume RUN_DIR` (events append to its events.jsonl) */
  resume?: boolean;
  cwd?: string;
  /** extra environment variables */
  env?: NodeJS.ProcessEnv;
  /** extra arguments after `train --config … --run-dir …` */
  extraArgs?: string[];
  /** own process group (POSIX): a terminal's Ctrl-C or the end of the caller's process group does not reach
   * the runtime (the CLI turns Ctrl-C into `stop`; the extension lets runs outlive a window reload) */
  detached?: boolean;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TrainingProcess extends Disposable {
  /** undefined when the process could not be started */
  readonly pid: number | undefined;
  readonly runDir: string;
  onEvent(listener: (event: RuntimeEvent) => void): Disposable;
  /** stdout lines that are not events (the runtime should print none) */
  onStrayOutput(listener: (line: string) => void): Disposable;
  /** stderr text as it arrives (also appended to RUN_DIR/stderr.log) */
  onStderr(listener: (text: string) => void): Disposable;
  /** after every stdout line has been delivered; code 127 + a stderr message when python could not start */
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): Disposable;
  /** resolves on exit */
  readonly exited: Promise<ExitInfo>;
  readonly running: boolean;
  /** asks the runtime to finish the step, checkpoint and exit (writes {"type":"stop"} to stdin) */
  stop(): void;
  send(message: ControlMessage): boolean;
  /** terminates the process (SIGTERM by default) */
  kill(signal?: NodeJS.Signals): void;
}

export const SPAWN_FAILED_EXIT_CODE = 127;

class ChildTrainingProcess implements TrainingProcess {
  private readonly events = new Emitter<RuntimeEvent>();
  private readonly stray = new Emitter<string>();
  private readonly stderr = new Emitter<string>();
  private readonly exit = new Emitter<ExitInfo>();
  private readonly parser = new JsonLinesParser();
  private readonly stderrLog: fs.WriteStream;
  private exitInfo: ExitInfo | null = null;
  private resolveExited!: (info: ExitInfo) => void;
  readonly exited = new Promise<ExitInfo>((resolve) => (this.resolveExited = resolve));
  readonly onEvent = (l: (e: RuntimeEvent) => void): Disposable => this.events.event(l);
  readonly onStrayOutput = (l: (line: string) => void): Disposable => this.stray.event(l);
  readonly onStderr = (l: (text: string) => void): Disposable => this.stderr.event(l);
  readonly onExit = (l: (code: number | null, signal: NodeJS.Signals | null) => void): Disposable =>
    this.exit.event((info) => l(info.code, info.signal));

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly runDir: string,
  ) {
    this.stderrLog = fs.createWriteStream(path.join(runDir, 'stderr.log'), { flags: 'a' });
    this.stderrLog.on('error', () => undefined);
    child.stdout.on('data', (chunk: Buffer) => this.deliver(this.parser.push(chunk)));
    child.stderr.setEncoding('utf8').on('data', (text: string) => this.handleStderr(text));
    child.stdin.on('error', () => undefined); // EPIPE after exit
    child.on('error', (error: NodeJS.ErrnoException) => this.handleSpawnError(error));
    child.on('close', (code, signal) => this.finish({ code, signal }));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  send(message: ControlMessage): boolean {
    if (!this.running || this.child.stdin.destroyed) return false;
    this.child.stdin.write(JSON.stringify(message) + '\n');
    return true;
  }

  stop(): void {
    this.send({ type: 'stop' });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  dispose(): void {
    for (const emitter of [this.events, this.stray, this.stderr, this.exit]) emitter.dispose();
  }

  private deliver(lines: ParsedLine[]): void {
    for (const line of lines) {
      if (line.kind === 'event') this.events.fire(line.event);
      else this.stray.fire(line.text);
    }
  }

  private handleStderr(text: string): void {
    this.stderrLog.write(text);
    this.stderr.fire(text);
  }

  private handleSpawnError(error: NodeJS.ErrnoException): void {
    if (this.child.pid !== undefined && error.code !== 'ENOENT') {
      this.handleStderr(`spike-studio: ${error.message}\n`);
      return;
    }
    const what = error.code === 'ENOENT' ? `Python was not found: "${this.child.spawnfile}"` : `Could not start "${this.child.spawnfile}": ${error.message}`;
    this.handleStderr(`spike-studio: ${what}\n`);
    this.finish({ code: SPAWN_FAILED_EXIT_CODE, signal: null });
  }

  private finish(info: ExitInfo): void {
    if (this.exitInfo) return;
    this.deliver(this.parser.end());
    this.exitInfo = info;
    this.stderrLog.end();
    this.exit.fire(info);
    this.resolveExited(info);
  }
}

/** The python arguments: `-m spikestudio train --config RESOLVED --run-dir DIR` or `… train --resume DIR`. */
export function trainingArgs(options: Pick<StartTrainingOptions, 'resolvedConfigPath' | 'runDir' | 'resume' | 'extraArgs'>): string[] {
  const target = options.resume ? ['--resume', options.runDir] : ['--config', options.resolvedConfigPath, '--run-dir', options.runDir];
  return ['-m', 'spikestudio', 'train', ...target, ...(options.extraArgs ?? [])];
}

/** Spawns `python -m spikestudio train --config RESOLVED --run-dir DIR` with PYTHONPATH=<runtimeRoot>. */
export function startTraining(options: StartTrainingOptions): TrainingProcess {
  fs.mkdirSync(options.runDir, { recursive: true });
  const args = trainingArgs(options);
  const child = spawn(options.python, args, {
    cwd: options.cwd ?? options.runDir,
    env: runtimeEnv(options.runtimeRoot, process.env, options.env ?? {}),
    stdio: ['pipe', 'pipe', 'pipe'],
    windowsHide: true,
    detached: options.detached ?? false,
  });
  return new ChildTrainingProcess(child, options.runDir);
}
