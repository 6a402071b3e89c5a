// The one client every webview panel speaks to the host with (graph, dashboard, firing, attention, energy): the
// ready handshake, init/events/runStatus/theme messages, the shown runs' events deduplicated by seq (one run; the
// dashboard compares several, the first being the primary one), state kept with setState (debounced; restored at
// once after a reload). A panel is a `mount(root, host)`: the
// standalone page mounts it in #app with the real VS Code API (mountPage), the side panel in a tab with its own host.
import { PROTOCOL_VERSION } from '../../src/core/protocol';
import type { HostToWebview, RunSummary, RuntimeEvent } from '../../src/core/protocol';
import { takeFresh, type SeqMark } from '../../src/core/runs/state';
import { host as vscodeHost, type Host } from './vscode';

export type { Host } from './vscode';

/** A panel: builds its DOM in `root` and speaks to the host through `host`. */
export type Mount = (root: HTMLElement, host: Host<unknown>) => void;

/** A standalone panel page: the panel mounted in #app with the page's VS Code API. */
export function mountPage(mount: Mount): void {
  mount(app(), vscodeHost());
}

/** One run shown: its summary and the events kept of it, in arrival order, each seq once. */
export interface ShownRun {
  runId: string;
  run: RunSummary | null;
  events: RuntimeEvent[];
}

export interface PanelState<U> {
  v: 1;
  /** the primary run (the host's serializers read it) */
  runId: string | null;
  /** the graph panel's config file (the host's serializer reads it) */
  source?: string | null;
  run: RunSummary | null;
  /** the primary run's events (empty when `shown` carries them) */
  events: RuntimeEvent[];
  ui: U;
  /** several runs (compared in the dashboard): each one, the primary first, with its events */
  shown?: ShownRun[];
}

/** What changed before a render: the shown runs replaced (init, restore), a run's new events or status, UI, theme. */
export type Change =
  | { kind: 'runs' }
  | { kind: 'events'; runId: string; added: RuntimeEvent[] }
  | { kind: 'status'; runId: string }
  | { kind: 'ui' }
  | { kind: 'theme' };

export interface PanelOptions<U> {
  name: string;
  host: Host<unknown>;
  ui: U;
  /** which events to keep (and save); default: all */
  keep?: (e: RuntimeEvent) => boolean;
  /** events, runs, UI or theme changed */
  render: (change: Change) => void;
  /** any other host message (e.g. graph) */
  onMessage?: (m: HostToWebview) => void;
  /** trims the saved events of a run (the state should stay small); `shown`: every run shown */
  saveEvents?: (events: RuntimeEvent[], shown: readonly ShownRun[]) => RuntimeEvent[];
  /** the saved state was read (ui and runs are restored): before the first render */
  restored?: () => void;
  /** restores UI saved by an older version of the panel (not under `ui`) */
  migrate?: (saved: Record<string, unknown>) => Partial<U>;
}

export class PanelClient<U> {
  readonly vscode: Host<PanelState<U>>;
  /** the runs shown, the primary one first */
  shown: ShownRun[] = [];
  source: string | null = null;
  ui: U;
  /** per run, the highest seq taken (takeFresh: events at or below it are duplicates) */
  private readonly marks = new Map<string, SeqMark>();
  private saveTimer: number | undefined;

  constructor(private readonly o: PanelOptions<U>) {
    this.vscode = o.host as Host<PanelState<U>>;
    this.ui = o.ui;
    window.addEventListener('message', (e: MessageEvent) => {
      try {
        this.onMessage(e.data as HostToWebview);
      } catch (err) {
        this.log(err instanceof Error ? (err.stack ?? err.message) : String(err));
      }
    });
    window.addEventListener('error', (e) => this.log(e.message));
    new MutationObserver(() => this.safeRender({ kind: 'theme' })).observe(document.body, { attributes: true, attributeFilter: ['class'] });
  }

  /** The primary run's id, summary and events. */
  get runId(): string | null {
    return this.shown[0]?.runId ?? null;
  }

  get run(): RunSummary | null {
    return this.shown[0]?.run ?? null;
  }

  get events(): RuntimeEvent[] {
    return this.shown[0]?.events ?? [];
  }

  /** Restores the saved state (if any), renders, then says ready. Call once, after the DOM is built. */
  start(): void {
    const saved = this.vscode.getState();
    if (saved && saved.v === 1) {
      this.source = typeof saved.source === 'string' ? saved.source : null;
      if (saved.ui && typeof saved.ui === 'object') this.ui = { ...this.ui, ...saved.ui };
      else if (this.o.migrate) this.ui = { ...this.ui, ...this.o.migrate(saved as unknown as Record<string, unknown>) };
      const list = Array.isArray(saved.shown) && saved.shown.length
        ? saved.shown.filter((s) => typeof s?.runId === 'string')
        : typeof saved.runId === 'string' ? [{ runId: saved.runId, run: saved.run ?? null, events: saved.events }] : [];
      this.setRuns(list.map((s) => ({ runId: s.runId, run: s.run ?? null, events: Array.isArray(s.events) ? s.events : [] })));
      this.o.restored?.();
    }
    this.safeRender({ kind: 'runs' });
    this.vscode.post({ type: 'ready', v: PROTOCOL_VERSION });
  }

  log(message: string, level: 'info' | 'warn' | 'error' = 'error'): void {
    this.vscode.post({ type: 'log', level, message: `${this.o.name}: ${message}` });
  }

  setUi(patch: Partial<U>): void {
    this.ui = { ...this.ui, ...patch };
    this.save();
    this.safeRender({ kind: 'ui' });
  }

  save(immediate = false): void {
    const write = () => {
      this.saveTimer = undefined;
      const kept = this.shown.map((s) => (this.o.saveEvents ? this.o.saveEvents(s.events, this.shown) : s.events));
      const primary = this.shown[0];
      const several = this.shown.length > 1;
      this.vscode.setState({
        v: 1,
        runId: primary?.runId ?? null,
        source: this.source,
        run: primary?.run ?? null,
        events: several ? [] : (kept[0] ?? []),
        ui: this.ui,
        ...(several ? { shown: this.shown.map((s, i) => ({ runId: s.runId, run: s.run, events: kept[i] ?? [] })) } : {}),
      });
    };
    if (immediate) {
      if (this.saveTimer) clearTimeout(this.saveTimer);
      write();
    } else {
      this.saveTimer ??= window.setTimeout(write, 250);
    }
  }

  private setRuns(list: ShownRun[]): void {
    this.marks.clear();
    this.shown = list.map((s) => ({ runId: s.runId, run: s.run, events: [] }));
    list.forEach((s, i) => this.add(this.shown[i], s.events));
  }

  /** Where host messages' events enter: keeps those of `batch` above the run's last seq (in seq order) that the
   *  panel wants; returns them. */
  private add(shown: ShownRun, batch: RuntimeEvent[]): RuntimeEvent[] {
    let mark = this.marks.get(shown.runId);
    if (!mark) this.marks.set(shown.runId, (mark = { lastSeq: -1 }));
    const added: RuntimeEvent[] = [];
    for (const e of takeFresh(mark, batch)) {
      if (typeof e.type !== 'string') continue;
      if (this.o.keep && !this.o.keep(e)) continue;
      shown.events.push(e);
      added.push(e);
    }
    return added;
  }

  private safeRender(change: Change): void {
    try {
      this.o.render(change);
    } catch (err) {
      this.log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    }
  }

  private onMessage(m: HostToWebview): void {
    if (typeof m !== 'object' || m === null) return;
    let change: Change;
    switch (m.type) {
      case 'init': {
        if (!Array.isArray(m.runs) || typeof m.events !== 'object' || m.events === null) return;
        const events = m.events;
        const ids = Object.keys(events).filter((id) => Array.isArray(events[id]));
        this.setRuns(ids.map((runId) => ({ runId, run: m.runs.find((r) => r && r.id === runId) ?? null, events: events[runId] })));
        change = { kind: 'runs' };
        break;
      }
      case 'events': {
        if (typeof m.runId !== 'string' || !Array.isArray(m.events)) return;
        let shown = this.shown.find((s) => s.runId === m.runId);
        const adopted = !shown && !this.shown.length; // nothing shown yet: the batch's run is
        if (adopted) {
          this.setRuns([{ runId: m.runId, run: null, events: [] }]);
          shown = this.shown[0];
        }
        if (!shown) return;
        const added = this.add(shown, m.events);
        if (!added.length && !adopted) return;
        change = adopted ? { kind: 'runs' } : { kind: 'events', runId: m.runId, added };
        break;
      }
      case 'runStatus': {
        const shown = m.run ? this.shown.find((s) => s.runId === m.run.id) : undefined;
        if (!shown) return;
        shown.run = m.run;
        change = { kind: 'status', runId: m.run.id };
        break;
      }
      case 'theme':
        change = { kind: 'theme' };
        break;
      default:
        this.o.onMessage?.(m);
        return;
    }
    if (change.kind !== 'theme') this.save(change.kind === 'runs');
    this.safeRender(change);
  }
}

// ---------------------------------------------------------------------------------------------- DOM

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

export function app(): HTMLElement {
  return document.getElementById('app') ?? document.body.appendChild(el('main', { id: 'app' }));
}
