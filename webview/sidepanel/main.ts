// The Spike Studio side panel (the webview view spikeStudio.sidePanel): tabs over the existing panels, embedded as
// they are: the architecture graph of the active config, and once that config has a run, its curves (the dashboard
// bundle), firing and attention. Each embedded panel is loaded the first time its tab opens, mounted in its own
// container (it builds its DOM in #app when it loads), and listens to the host's messages itself: the host speaks
// the panels' protocol (views/sidePanel.ts). The page keeps only its own state (the open tab): the embedded panels
// share one webview API, so their setState is dropped here, and the host sends a snapshot each time one says ready.
import type { HostToWebview, WebviewToHost } from '../../src/core/protocol';
import './sidepanel.css';

type Tab = 'graph' | 'curves' | 'firing' | 'attention';
interface State {
  v: 1;
  tab: Tab;
}

const TABS: { id: Tab; label: string; needsRun: boolean; load: () => Promise<unknown> }[] = [
  { id: 'graph', label: 'Graph', needsRun: false, load: () => import('../graph/main') },
  { id: 'curves', label: 'Curves', needsRun: true, load: () => import('../dashboard/main') },
  { id: 'firing', label: 'Firing', needsRun: true, load: () => import('../firing/main') },
  { id: 'attention', label: 'Attention', needsRun: true, load: () => import('../attention/main') },
];

// The real API is acquired once here; the embedded panels get a view of it that posts but keeps no state.
const api = acquireVsCodeApi();
(globalThis as unknown as { acquireVsCodeApi: () => unknown }).acquireVsCodeApi = () => ({
  postMessage: (m: unknown) => api.postMessage(m),
  getState: () => undefined,
  setState: (s: unknown) => s,
});
const post = (m: WebviewToHost): void => api.postMessage(m);
const saved = api.getState() as State | undefined;
let tab: Tab = saved?.v === 1 && TABS.some((t) => t.id === saved.tab) ? saved.tab : 'graph';
let hasRun = false;

document.body.classList.add('side-panel');
const bar = document.createElement('div');
bar.className = 'side-tabs';
bar.setAttribute('role', 'tablist');
const status = document.createElement('div');
status.id = 'side-status';
status.className = 'side-status';
const host = document.getElementById('app') ?? document.body;
host.removeAttribute('id'); // each embedded panel mounts in its own #app while it loads
host.append(bar, status);

const buttons = new Map<Tab, HTMLButtonElement>();
const boxes = new Map<Tab, HTMLElement>();
const loaded = new Map<Tab, Promise<void>>();
let loading: Promise<void> = Promise.resolve();

for (const t of TABS) {
  const b = document.createElement('button');
  b.type = 'button';
  b.id = `tab-${t.id}`;
  b.textContent = t.label;
  b.setAttribute('role', 'tab');
  b.addEventListener('click', () => select(t.id));
  buttons.set(t.id, b);
  bar.append(b);
  const box = document.createElement('section');
  box.className = 'side-box';
  box.dataset.tab = t.id;
  box.setAttribute('role', 'tabpanel');
  box.hidden = true;
  boxes.set(t.id, box);
  host.append(box);
}

function load(t: (typeof TABS)[number]): Promise<void> {
  let p = loaded.get(t.id);
  if (!p) {
    const box = boxes.get(t.id)!;
    // one at a time: a panel takes the #app id only while its module runs
    p = loading = loading.then(async () => {
      box.id = 'app';
      try {
        await t.load();
      } catch (err) {
        post({ type: 'log', level: 'error', message: `side panel: loading ${t.id}: ${String(err)}` });
      } finally {
        box.removeAttribute('id');
      }
    });
    loaded.set(t.id, p);
  }
  return p;
}

function select(id: Tab): void {
  const t = TABS.find((x) => x.id === id && (!x.needsRun || hasRun)) ?? TABS[0];
  tab = t.id;
  api.setState({ v: 1, tab } satisfies State);
  render();
  void load(t);
}

function render(): void {
  for (const t of TABS) {
    const b = buttons.get(t.id)!;
    const on = t.id === tab;
    b.hidden = t.needsRun && !hasRun;
    b.setAttribute('aria-selected', String(on));
    b.classList.toggle('active', on);
    boxes.get(t.id)!.hidden = !on;
  }
  document.body.dataset.tab = tab;
  document.body.dataset.hasRun = String(hasRun);
}

window.addEventListener('message', (e: MessageEvent) => {
  const m = e.data as HostToWebview;
  if (typeof m !== 'object' || m === null) return;
  if (m.type === 'graph') {
    status.textContent = m.source ? `${m.name}` : '';
  } else if (m.type === 'init' && typeof m.events === 'object' && m.events !== null) {
    const runId = Object.keys(m.events)[0] ?? null;
    const run = runId ? m.runs.find((r) => r.id === runId) : undefined;
    hasRun = runId !== null;
    document.body.dataset.runId = runId ?? '';
    status.dataset.run = run ? `latest run: ${run.name} · ${run.status}` : 'no run yet';
    const current = TABS.find((x) => x.id === tab)!;
    if (current.needsRun && !hasRun) select('graph');
    else render();
  }
});

select(tab);
