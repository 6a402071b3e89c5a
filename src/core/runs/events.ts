// Reading events.jsonl: a whole file at once (readEvents), following a growing one (EventTailer), and
// summarising a run's events for lists (summarizeRun, a view of the run state in state.ts).

import * as fs from 'node:fs';
import type { CheckpointEvent, DoneEvent, ErrorEvent, EvalEvent, HelloEvent, RunStatus, RuntimeEvent, StepEvent } from '../protocol';
import { classifyLine, LineSplitter } from '../runtime/jsonlines';
import { type Disposable, Emitter } from '../util/emitter';
import { runStateOf } from './state';

export interface ReadEventsResult {
  events: RuntimeEvent[];
  /** complete lines that were not events (garbage, torn writes in the middle) */
  skipped: number;
  /** the file ended in an incomplete line that did not parse (a write in progress); not counted in skipped */
  tornTail: boolean;
}

/** Reads every event of an events.jsonl; a missing file reads as empty. Never throws on bad content. */
export function readEvents(file: string): ReadEventsResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { events: [], skipped: 0, tornTail: false };
  }
  return parseEventsText(text);
}

export function parseEventsText(text: string): ReadEventsResult {
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  const result: ReadEventsResult = { events: [], skipped: 0, tornTail: false };
  for (const line of lines) {
    const parsed = classifyLine(line);
    if (parsed?.kind === 'event') result.events.push(parsed.event);
    else if (parsed) result.skipped++;
  }
  const tail = classifyLine(last);
  if (tail?.kind === 'event') result.events.push(tail.event);
  else if (tail) result.tornTail = true;
  return result;
}

// ---------------------------------------------------------------------------------------------

export interface EventTailerOptions {
  /** how often to look for new bytes (default 250 ms); fs.watch also triggers reads when available */
  pollMs?: number;
  /** start at the current end of the file instead of its beginning (default false) */
  fromEnd?: boolean;
}

/** Follows a growing events.jsonl and emits the events of complete new lines, in order. */
export class EventTailer implements Disposable {
  private readonly eventsEmitter = new Emitter<RuntimeEvent[]>();
  private readonly strayEmitter = new Emitter<string>();
  private readonly resetEmitter = new Emitter<void>();
  /** a batch of new events, in file order */
  readonly onEvents = this.eventsEmitter.event;
  /** complete lines that are not events */
  readonly onStray = this.strayEmitter.event;
  /** the file shrank (was replaced or truncated); reading restarts from its beginning */
  readonly onReset = this.resetEmitter.event;

  private splitter = new LineSplitter();
  private offset = 0;
  private timer: NodeJS.Timeout | undefined;
  private watcher: fs.FSWatcher | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private disposed = false;

  constructor(
    readonly file: string,
    private readonly options: EventTailerOptions = {},
  ) {}

  start(): this {
    if (this.options.fromEnd) this.offset = fileSize(this.file);
    this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? 250);
    this.tryWatch();
    void this.poll();
    return this;
  }

  /** Reads whatever is new now; resolves when done (concurrent calls coalesce). */
  poll(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = this.readNewBytes().finally(() => {
      this.reading = undefined;
      if (this.readAgain && !this.disposed) {
        this.readAgain = false;
        void this.poll();
      }
    });
    return this.reading;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearInterval(this.timer);
    this.watcher?.close();
    this.eventsEmitter.dispose();
    this.strayEmitter.dispose();
    this.resetEmitter.dispose();
  }

  private tryWatch(): void {
    if (this.watcher || !fs.existsSync(this.file)) return;
    try {
      this.watcher = fs.watch(this.file, () => void this.poll());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined;
    }
  }

  private async readNewBytes(): Promise<void> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(this.file, 'r');
    } catch {
      return; // not there yet
    }
    try {
      this.tryWatch();
      const { size } = await handle.stat();
      if (size < this.offset) this.restart();
      while (this.offset < size && !this.disposed) {
        const buffer = Buffer.alloc(Math.min(size - this.offset, 1 << 20));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        this.emitLines(this.splitter.push(buffer.subarray(0, bytesRead)));
      }
    } finally {
      await handle.close();
    }
  }

  private restart(): void {
    this.offset = 0;
    this.splitter = new LineSplitter();
    this.resetEmitter.fire();
  }

  private emitLines(lines: string[]): void {
    const events: RuntimeEvent[] = [];
    for (const line of lines) {
      const parsed = classifyLine(line);
      if (parsed?.kind === 'event') events.push(parsed.event);
      else if (parsed) this.strayEmitter.fire(parsed.text);
    }
    if (events.length > 0 && !this.disposed) this.eventsEmitter.fire(events);
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------

/** What run lists and summaries show: a view of the run state (state.ts). */
export interface RunEventSummary {
  /** from the current segment's `done` event; null while there is none */
  doneStatus: Exclude<RunStatus, 'running'> | null;
  bestTop1: number | null;
  lastTop1: number | null;
  epochsCompleted: number;
  epochs: number | null;
  steps: number;
  /** wall time of `hello` (or of the first event), seconds since the epoch */
  startedAt: number | null;
  /** wall time of the last event, seconds since the epoch */
  lastEventAt: number | null;
  durationS: number | null;
  pid: number | null;
  hello: HelloEvent | null;
  lastStep: StepEvent | null;
  lastEval: EvalEvent | null;
  error: ErrorEvent | null;
  done: DoneEvent | null;
  lastEvent: RuntimeEvent | null;
  /** the last `checkpoint` event (what a resume would continue from) */
  lastCheckpoint: CheckpointEvent | null;
}

/** Folds a run's events into what lists and summaries show. */
export function summarizeRun(events: readonly RuntimeEvent[]): RunEventSummary {
  const s = runStateOf(events);
  return {
    doneStatus: s.done?.status ?? null,
    bestTop1: s.bestTop1,
    lastTop1: s.top1,
    epochsCompleted: s.epochsCompleted,
    epochs: s.epochs || null,
    steps: s.step,
    startedAt: s.startedAt,
    lastEventAt: s.lastEventAt,
    durationS: s.durationS,
    pid: s.hello?.pid ?? null,
    hello: s.hello,
    lastStep: s.lastStep,
    lastEval: s.lastEval,
    error: s.error,
    done: s.done,
    lastEvent: s.lastEvent,
    lastCheckpoint: s.lastCheckpoint,
  };
}
