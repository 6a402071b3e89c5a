// The Spike Studio side panel (the webview view spikeStudio.sidePanel): tabs over the existing panels: the
// architecture graph of the active config, and once that config has a run, its curves (the dashboard), firing and
// attention. Each panel is loaded the first time its tab opens and mounted in its tab's container with a host this
// page provides (mount(root, host), as the panel pages do with the real one); each listens to the host's messages
// itself: the host speaks the panels' protocol (views/sidePanel.ts). The page keeps only its own state (the open
// tab): the embedded panels' setState is dropped, and the host sends a snapshot each time one says ready.
import type { HostToWebview } from '../../src/core/protocol';
import type { Host, Mount } from '../shared/client';
import { host } from '../shared/vscode';
import './sidepanel.css';

type Tab = 'graph' | 'curves' | 'firing' | 'attention';
interface State {
  v: 1;
  tab: Tab;
}

const TABS: { id: Tab; label: string; needsRun: boolean; load: () => Promise<Mount> }[] = [
  { id: 'graph', label: 'Graph', needsRun: false, load: async () => (await import('../graph/mount')).mount },
  { id: 'curves', label: 'Curves', needsRun: true, load: async () => (await import('../dashboard/mount')).mount },
  { id: 'firing', label: 'Firing', needsRun: true, load: async () => (await import('../firing/mount')).mount },
  { id: 'attention', label: 'Attention', needsRun: true, load: async () => (await import('../attention/mount')).mount },
];

const api = host<State>();
/** What the embedded panels get: it posts to the host but keeps no state (the page's state is the open tab). */
const embedded: Host<unknown> = { post: (m) => api.post(m), getState: () => undefined, setState: () => undefined };
const post = embedded.post;
const saved = api.getState();
let tab: Tab = saved?.v === 1 && TABS.some((t) => t.id === saved.tab) ? saved.tab : 'graph';
let hasRun = false;

document.body.classList.add('side-panel');
const bar = document.createElement('div');
bar.className = 'side-tabs';
bar.setAttribute('role', 'tablist');
const status = document.createElement('div');
status.id = 'side-status';
status.className = 'side-status';
const page = document.getElementById('app') ?? document.body;
page.append(bar, status);

const buttons = new Map<Tab, HTMLButtonElement>();
const boxes = new Map<Tab, HTMLElement>();
const loaded = new Map<Tab, Promise<void>>();

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
  page.append(box);
}

function load(t: (typeof TABS)[number]): Promise<void> {
  let p = loaded.get(t.id);
  if (!p) {
    const box = boxes.get(t.id)!;
    p = t
      .load()
      .then((mount) => mount(box, embedded))
      .catch((err: unknown) => post({ type: 'log', level: 'error', message: `side panel: loading ${t.id}: ${String(err)}` }));
    loaded.set(t.id, p);
  }
  return p;
}

function select(id: Tab): void {
  const t = TABS.find((x) => x.id === id && (!x.needsRun || hasRun)) ?? TABS[0];
  tab = t.id;
  api.setState({ v: 1, tab });
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
