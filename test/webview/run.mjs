// Webview tests: loads the built dashboard bundle (dist/webview/dashboard.{js,css}; run `npm run build`
// first) into a static page with a fake acquireVsCodeApi and the same CSP the extension uses, in Debian's
// Chromium driven by playwright-core, and feeds it a recorded event stream in batches.
// Then the visualisation panels (panels.mjs). Prints `webview: N passed, M failed` last and exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { runPanelTests } from './panels.mjs';
import { runExperimentsTests } from './experiments.mjs';
import { serveWebviews, webviewPage } from './page.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const FIXTURE = join(root, 'test/fixtures/events/mnist-run.jsonl');
const RESULTS = join(root, 'test-results');
const SCREENSHOT = join(RESULTS, 'dashboard.png');
const README_SHOT = join(root, 'media/screenshots/dashboard.png');
// The README's screenshots in media/screenshots are refreshed only on request (they are tracked files; a test run
// must not dirty the tree): SPIKE_UPDATE_SCREENSHOTS=1 npm run test:webview.
const UPDATE_SHOTS = process.env.SPIKE_UPDATE_SCREENSHOTS === '1';

function fail(message) {
  console.error(`webview: ${message}`);
  console.log('webview: 0 passed, 1 failed');
  process.exit(1);
}

for (const f of ['dist/webview/dashboard.js', 'dist/webview/dashboard.css']) {
  if (!existsSync(join(root, f))) fail(`${f} is missing: run \`npm run build\` first`);
}
if (!existsSync(CHROMIUM)) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) fail(`${CHROMIUM} not found. Install it with: sudo apt-get update && sudo apt-get install -y chromium fonts-liberation`);
  console.log(`webview: ${CHROMIUM} not found, installing chromium with apt-get…`);
  try {
    execFileSync('apt-get', ['update'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', 'chromium', 'fonts-liberation'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (e) {
    fail(`could not install chromium (${e.message}). Run: apt-get update && apt-get install -y chromium fonts-liberation`);
  }
  if (!existsSync(CHROMIUM)) fail(`${CHROMIUM} still missing after apt-get install`);
}

const events = readFileSync(FIXTURE, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const RUN_ID = '20251123-120000-mnist-spikformer';
const RUN = { id: RUN_ID, name: 'mnist-spikformer', status: 'running', dir: `/ws/.spike-studio/runs/${RUN_ID}`, bestTop1: null };
const stepCount = events.filter((e) => e.type === 'step').length;
const lifLayers = events.find((e) => e.type === 'firing')?.layers.length ?? 0;

// ------------------------------------------------------------------------------------------ static server

const nonce = randomBytes(16).toString('base64');
const server = await serveWebviews(root, (pathname, origin) =>
  pathname === '/' || pathname === '/index.html' ? webviewPage({ origin, nonce, bundle: 'dashboard', title: 'Spike Studio dashboard' }) : undefined);
const origin = server.origin;

// ------------------------------------------------------------------------------------------ browser

const profile = mkdtempSync(join(tmpdir(), 'spike-webview-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1200, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync'],
});
const p = ctx.pages()[0] ?? (await ctx.newPage());
const pageErrors = [];
p.on('pageerror', (e) => pageErrors.push(String(e)));
p.on('response', (r) => {
  if (r.status() >= 400) pageErrors.push(`HTTP ${r.status()} ${r.url()}`);
});
p.on('console', (m) => {
  if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
});

const results = [];
async function test(name, fn) {
  try {
    await fn();
    results.push([name, null]);
    console.log(`  ✔ ${name}`);
  } catch (e) {
    results.push([name, e]);
    console.log(`  ✘ ${name}\n      ${String(e?.message ?? e).split('\n').join('\n      ')}`);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}
const post = (msg) => p.evaluate((m) => window.postMessage(m, '*'), msg);
const posted = () => p.evaluate(() => window.__posted);
const points = (sel) => p.$eval(sel, (e) => Number(e.getAttribute('data-points')));
const textOf = (sel) => p.$eval(sel, (e) => e.textContent.trim());
async function waitPoints(sel, n) {
  await p.waitForFunction(([s, v]) => document.querySelector(s)?.getAttribute('data-points') === String(v), [sel, n], { timeout: 5000 });
}
/** How much of the chart's canvas differs from its background: fraction of non-background pixels and luminance variance. */
function canvasStats(sel) {
  return p.$eval(sel, (box) => {
    const c = box.querySelector('canvas');
    if (!c) return { frac: 0, variance: 0, w: 0, h: 0 };
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const counts = new Map();
    let sum = 0, sum2 = 0;
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) {
      const k = (d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3];
      counts.set(k, (counts.get(k) ?? 0) + 1);
      const l = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      const a = d[i + 3] / 255;
      sum += l * a; sum2 += (l * a) ** 2;
    }
    const bg = Math.max(...counts.values());
    const mean = sum / n;
    return { frac: (n - bg) / n, variance: sum2 / n - mean * mean, w: c.width, h: c.height, colors: counts.size };
  });
}

const batches = [];
for (let i = 0; i < events.length; i += 7) batches.push(events.slice(i, i + 7));

try {
  await p.goto(`${origin}/`);
  await p.waitForSelector('#loss-chart canvas');

  await test('posts {type:"ready"} on load', async () => {
    await p.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
    const ready = (await posted()).find((m) => m.type === 'ready');
    assert(ready.v === 1, `ready.v = ${ready.v}`);
  });

  await test('init shows the run name and status', async () => {
    await post({ type: 'init', v: 1, runs: [RUN], events: { [RUN_ID]: [] } });
    await p.waitForFunction(() => document.querySelector('#run-name')?.textContent === 'mnist-spikformer');
    assert((await textOf('#run-status')) === 'running', `status ${await textOf('#run-status')}`);
    assert((await points('#loss-chart')) === 0, 'loss chart should start empty');
  });

  await test('data-points grows as event batches arrive', async () => {
    let last = 0;
    let grew = 0;
    const stopAt = batches.length - 2; // keep the tail (evals, done) for after the Stop test
    for (let i = 0; i < stopAt; i++) {
      await post({ type: 'events', runId: RUN_ID, events: batches[i] });
      const expected = batches.slice(0, i + 1).flat().filter((e) => e.type === 'step').length;
      await waitPoints('#loss-chart', expected);
      const now = await points('#loss-chart');
      assert(now >= last, `data-points went down: ${last} → ${now}`);
      if (now > last) grew++;
      last = now;
    }
    assert(grew >= 3 && last > 0, `grew only ${grew} times (last ${last})`);
    assert((await points('#acc-chart')) === last, 'acc chart should plot the same steps');
  });

  await test('the Stop button posts {type:"stop", runId}', async () => {
    const stop = p.locator('#stop');
    await p.waitForFunction(() => !document.querySelector('#stop')?.hasAttribute('disabled'));
    await stop.click();
    await p.waitForFunction(() => window.__posted.some((m) => m.type === 'stop'));
    const msg = (await posted()).find((m) => m.type === 'stop');
    assert(msg.runId === RUN_ID, `runId ${msg.runId}`);
    assert(await stop.evaluate((e) => e.hasAttribute('disabled')), 'Stop should be disabled while stopping');
    await stop.click({ force: true });
    assert((await posted()).filter((m) => m.type === 'stop').length === 1, 'a second click must not post again');
  });

  await test('unknown and malformed messages are ignored', async () => {
    const before = await points('#loss-chart');
    const postedBefore = (await posted()).length;
    for (const m of [{ type: 'bogus', x: 1 }, {}, null, 'hello', 42, { type: 'events' }, { type: 'events', runId: RUN_ID, events: 'nope' },
      { type: 'events', runId: 'some-other-run', events: batches[0] }, { type: 'init', runs: 'x' }, { type: 'runStatus' }]) {
      await post(m);
    }
    await p.waitForTimeout(100);
    assert((await points('#loss-chart')) === before, 'data-points changed');
    assert((await textOf('#run-name')) === 'mnist-spikformer', 'run changed');
    const newPosts = (await posted()).slice(postedBefore);
    assert(newPosts.length === 0, `posted ${JSON.stringify(newPosts)}`);
  });

  await test('the whole stream renders: charts, KPIs, firing rates, final status', async () => {
    for (const b of batches.slice(batches.length - 2)) await post({ type: 'events', runId: RUN_ID, events: b });
    await post({ type: 'events', runId: RUN_ID, events: batches[3] }); // a duplicate batch changes nothing
    await post({ type: 'runStatus', run: { ...RUN, status: 'completed', bestTop1: 0.9668 } });
    await waitPoints('#loss-chart', stepCount);
    await waitPoints('#acc-chart', stepCount);
    await p.waitForFunction(() => document.querySelector('#run-status')?.textContent === 'completed');
    assert((await textOf('#kpi-best')) === '96.7 %', `best ${await textOf('#kpi-best')}`);
    assert((await textOf('#kpi-epoch')) === '3 / 3', `epoch ${await textOf('#kpi-epoch')}`);
    assert(/\d/.test(await textOf('#kpi-ips')), 'img/s');
    const rows = await p.$$eval('#firing .fr-row', (r) => r.length);
    assert(rows === lifLayers, `firing rows ${rows} ≠ ${lifLayers}`);
    assert(await p.locator('#stop').evaluate((e) => e.hasAttribute('disabled')), 'Stop should be disabled after done');
    const legend = await p.$$eval('#loss-chart .u-legend .u-label, #acc-chart .u-legend .u-label', (l) => l.map((e) => e.textContent));
    for (const s of ['train loss', 'eval loss', 'train acc', 'eval top-1', 'eval top-5']) assert(legend.includes(s), `legend lacks ${s}: ${legend}`);
  });

  await test('charts are drawn (canvas not blank) with labelled axes', async () => {
    for (const sel of ['#loss-chart', '#acc-chart']) {
      const s = await canvasStats(sel);
      assert(s.w > 200 && s.h > 100, `${sel} canvas ${s.w}×${s.h}`);
      assert(s.frac > 0.01 && s.variance > 5 && s.colors > 20, `${sel} looks blank: ${JSON.stringify(s)}`);
    }
    assert((await p.$eval('#loss-chart', (e) => [e.dataset.xLabel, e.dataset.yLabel].join('|'))) === 'step|loss', 'loss axes');
    assert((await p.$eval('#acc-chart', (e) => [e.dataset.xLabel, e.dataset.yLabel].join('|'))) === 'step|accuracy %', 'acc axes');
  });

  await test('no CSP violations and no page errors', async () => {
    const csp = await p.evaluate(() => window.__csp);
    assert(csp.length === 0, `CSP violations: ${csp.join('; ')}`);
    assert(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
    const logs = (await posted()).filter((m) => m.type === 'log');
    assert(logs.length === 0, `webview logged: ${JSON.stringify(logs)}`);
  });

  await test('a theme change redraws the charts with the data kept', async () => {
    const before = await points('#loss-chart');
    await p.evaluate(() => {
      document.documentElement.style.setProperty('--vscode-editor-background', '#ffffff');
      document.documentElement.style.setProperty('--vscode-foreground', '#3b3b3b');
      document.body.className = 'vscode-light';
    });
    await post({ type: 'theme' });
    await p.waitForTimeout(100);
    assert((await points('#loss-chart')) === before, 'data-points changed on theme change');
    const s = await canvasStats('#loss-chart');
    assert(s.frac > 0.01 && s.colors > 20, `blank after theme change: ${JSON.stringify(s)}`);
    await p.evaluate(() => {
      document.documentElement.style.setProperty('--vscode-editor-background', '#1f1f1f');
      document.documentElement.style.setProperty('--vscode-foreground', '#cccccc');
      document.body.className = 'vscode-dark';
    });
  });

  mkdirSync(RESULTS, { recursive: true });
  await p.waitForTimeout(300); // let the toolkit's components settle
  await p.screenshot({ path: SCREENSHOT, fullPage: true });
  if (UPDATE_SHOTS) {
    mkdirSync(dirname(README_SHOT), { recursive: true });
    copyFileSync(SCREENSHOT, README_SHOT);
  }

  await test('state is restored after a reload (setState/getState)', async () => {
    await p.waitForTimeout(400); // the debounced setState
    await p.reload();
    await p.waitForSelector('#loss-chart canvas');
    await waitPoints('#loss-chart', stepCount);
    assert((await textOf('#run-name')) === 'mnist-spikformer', 'run name after reload');
    assert((await textOf('#run-status')) === 'completed', 'status after reload');
    const s = await canvasStats('#loss-chart');
    assert(s.frac > 0.01, 'chart blank after reload');
    await p.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
  });

  await test('a fresh init replaces the restored run', async () => {
    const other = { ...RUN, id: 'run-b', name: 'second-run', status: 'running' };
    await post({ type: 'init', v: 1, runs: [RUN, other], events: { 'run-b': events.slice(0, 12) } });
    await p.waitForFunction(() => document.querySelector('#run-name')?.textContent === 'second-run');
    const n = events.slice(0, 12).filter((e) => e.type === 'step').length;
    await waitPoints('#loss-chart', n);
  });

  await test('the header says where the weights came from (model event init_from), and nothing when absent', async () => {
    assert(await p.locator('#run-init').evaluate((e) => e.hidden), '#run-init shown for a run without init_from');
    const init = { path: '/ws/ckpt/stsa.pth', kind: 'imported', converted_from: 'stsa reference layout (ppppps/STSA_4_Asyn_SNN)',
      source: '/ws/ref/STSTrans_dvs128.pth', ignored: ['blocks.0.attn.to_qkv_proj.weight', 'blocks.1.attn.to_qkv_proj.weight'],
      rebuilt: [], qkv_layout: 'reference' };
    const withInit = events.slice(0, 12).map((e) => (e.type === 'model' ? { ...e, init_from: init } : e));
    const run = { ...RUN, id: 'run-init', name: 'from-reference', status: 'running' };
    await post({ type: 'init', v: 1, runs: [run], events: { 'run-init': withInit } });
    await p.waitForFunction(() => document.querySelector('#run-name')?.textContent === 'from-reference');
    await p.waitForFunction(() => !document.querySelector('#run-init')?.hidden);
    const t = await textOf('#run-init');
    for (const s of ['stsa.pth', 'converted from the stsa reference layout (ppppps/STSA_4_Asyn_SNN)', 'STSTrans_dvs128.pth', 'qkv_layout reference', '2 unused keys ignored']) {
      assert(t.includes(s), `#run-init "${t}" lacks "${s}"`);
    }
    const title = await p.$eval('#run-init', (e) => e.title);
    assert(title.includes('blocks.1.attn.to_qkv_proj.weight'), `title ${title}`);
    await post({ type: 'init', v: 1, runs: [RUN], events: { [RUN_ID]: events.slice(0, 12) } });
    await p.waitForFunction(() => document.querySelector('#run-init')?.hidden === true);
  });

  await test('a live run whose events arrive one at a time draws from its first point (single-point ranges)', async () => {
    // a fresh page at the width of an editor-split webview, as when VS Code opens the dashboard at Train: no saved
    // state, charts created empty
    await p.setViewportSize({ width: 490, height: 900 });
    await p.evaluate(() => sessionStorage.clear());
    await p.reload();
    await p.waitForSelector('#loss-chart canvas');
    const errorsBefore = pageErrors.length;
    const live = { ...RUN, id: 'run-live', name: 'live-one-by-one', status: 'running' };
    await post({ type: 'init', v: 1, runs: [live], events: { 'run-live': [] } });
    await p.waitForFunction(() => document.querySelector('#run-name')?.textContent === 'live-one-by-one');
    // real runtime output (test/fixtures/events/cli-tiny-run.jsonl): its first steps are the degenerate case
    const recorded = readFileSync(join(root, 'test/fixtures/events/cli-tiny-run.jsonl'), 'utf8')
      .split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    const firstSteps = recorded.slice(0, 12);
    for (const e of firstSteps) {
      await post({ type: 'events', runId: 'run-live', events: [e] });
      await p.waitForTimeout(60);
    }
    const n = firstSteps.filter((e) => e.type === 'step').length;
    assert(n >= 2, `fixture gives only ${n} early steps`);
    await waitPoints('#loss-chart', n);
    assert(pageErrors.length === errorsBefore, `page errors: ${pageErrors.slice(errorsBefore).join('; ')}`);
    for (const sel of ['#loss-chart', '#acc-chart']) {
      const s = await canvasStats(sel);
      assert(s.frac > 0.01 && s.colors > 20, `${sel} blank: ${JSON.stringify(s)}`);
    }
    await p.setViewportSize({ width: 1200, height: 900 });
  });

  await test('a recorded run with attention and energy telemetry renders without errors', async () => {
    const rich = readFileSync(join(root, 'test/fixtures/events/tiny-attention-run.jsonl'), 'utf8')
      .split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    const kinds = new Set(rich.map((e) => e.type));
    assert(kinds.has('attention') && kinds.has('energy'), `fixture lacks telemetry: ${[...kinds]}`);
    const errorsBefore = pageErrors.length;
    const richRun = { ...RUN, id: 'run-rich', name: 'tiny-attn', status: 'running' };
    await post({ type: 'init', v: 1, runs: [richRun], events: { 'run-rich': [] } });
    await p.waitForFunction(() => document.querySelector('#run-name')?.textContent === 'tiny-attn');
    for (let i = 0; i < rich.length; i += 25) await post({ type: 'events', runId: 'run-rich', events: rich.slice(i, i + 25) });
    await waitPoints('#loss-chart', rich.filter((e) => e.type === 'step').length);
    const s = await canvasStats('#loss-chart');
    assert(s.frac > 0.01 && s.colors > 20, `loss chart blank: ${JSON.stringify(s)}`);
    assert(pageErrors.length === errorsBefore, `page errors: ${pageErrors.slice(errorsBefore).join('; ')}`);
    const logs = (await posted()).filter((m) => m.type === 'log' && m.level === 'error');
    assert(logs.length === 0, `webview logged errors: ${JSON.stringify(logs)}`);
  });

  // ---------------------------------------------------------------------------------------------- curves
  const data = (sel, key) => p.$eval(sel, (e, k) => e.dataset[k], key);
  const num = async (sel, key) => Number(await data(sel, key));
  const rawLossSum = events.filter((e) => e.type === 'step').reduce((a, e) => a + e.loss, 0);

  await test('curves: the EMA toggle switches between the smoothed and the raw values (raw line faint behind)', async () => {
    await post({ type: 'init', v: 1, runs: [RUN], events: { [RUN_ID]: events } });
    await waitPoints('#loss-chart', stepCount);
    await p.waitForFunction(() => document.querySelector('#lr-chart')?.getAttribute('data-points') !== '0' && document.querySelector('#ips-chart')?.getAttribute('data-points') !== '0');
    const on = await p.$eval('#smooth-on', (e) => e.checked);
    assert(on, 'smoothing should be on by default');
    const smoothed = await num('#loss-chart', 'ysum');
    assert(Math.abs(smoothed - rawLossSum) > 1e-6, `smoothed sum ${smoothed} equals the raw sum ${rawLossSum}`);
    const legend = await p.$$eval('#loss-chart .u-legend .u-series', (rows) => rows.filter((r) => r.style.display !== 'none').map((r) => r.textContent));
    assert(!legend.some((t) => t.includes('(raw)')), `raw line listed in the legend: ${legend}`);
    await p.click('#smooth-on');
    await p.waitForFunction((v) => Math.abs(Number(document.querySelector('#loss-chart').dataset.ysum) - v) < 1e-6 * Math.max(1, v), rawLossSum, { timeout: 5000 });
    // a heavier weight smooths more: a different curve again
    await p.click('#smooth-on');
    await p.waitForFunction((v) => Math.abs(Number(document.querySelector('#loss-chart').dataset.ysum) - v) < 1e-6, smoothed);
    await p.$eval('#smooth-weight', (e) => { e.value = '0.95'; e.dispatchEvent(new Event('input')); });
    await p.waitForFunction((v) => Math.abs(Number(document.querySelector('#loss-chart').dataset.ysum) - v) > 1e-6, smoothed);
    await p.$eval('#smooth-weight', (e) => { e.value = '0.6'; e.dispatchEvent(new Event('input')); });
  });

  await test('curves: the x-axis switch (step / epoch / relative time) changes the x range and label', async () => {
    const steps = events.filter((e) => e.type === 'step');
    const lastStep = Math.max(...steps.map((e) => e.step));
    await p.waitForFunction(() => document.querySelector('#loss-chart').dataset.xmax !== '');
    const stepMax = await num('#loss-chart', 'xmax');
    assert(stepMax >= lastStep * 0.99, `step x max ${stepMax} < ${lastStep}`);
    const pick = (v) => p.$eval('#x-axis', (e, value) => { e.value = value; e.dispatchEvent(new Event('change')); }, v);
    await pick('epoch');
    await p.waitForFunction(() => document.querySelector('#loss-chart').dataset.xLabel === 'epoch');
    await p.waitForFunction((m) => { const x = document.querySelector('#loss-chart').dataset.xmax; return x !== '' && Number(x) < m; }, stepMax);
    const epochMax = await num('#loss-chart', 'xmax');
    const epochs = Math.max(...steps.map((e) => e.epoch));
    assert(epochMax > epochs - 1 && epochMax <= epochs + 0.5, `epoch x max ${epochMax} for ${epochs} epochs`);
    await pick('relative');
    await p.waitForFunction(() => document.querySelector('#loss-chart').dataset.xLabel === 'seconds since start');
    const t0 = events[0].t;
    const span = Math.max(...events.filter((e) => e.type === 'step' || e.type === 'eval').map((e) => e.t)) - t0;
    await p.waitForFunction((m) => Math.abs(Number(document.querySelector('#loss-chart').dataset.xmax) - m) > 1e-9, epochMax);
    const relMax = await num('#loss-chart', 'xmax');
    assert(relMax >= span * 0.95 && relMax <= span * 1.5 + 1, `relative x max ${relMax}, run span ${span} s`);
    await pick('step');
    await p.waitForFunction(() => document.querySelector('#loss-chart').dataset.xLabel === 'step');
  });

  await test('curves: the log toggle switches the loss (and lr) y axis to log scale', async () => {
    assert((await data('#loss-chart', 'logy')) === 'false', 'loss starts linear');
    await p.click('#loss-log');
    await p.waitForFunction(() => document.querySelector('#loss-chart').dataset.logy === 'true');
    const s = await canvasStats('#loss-chart');
    assert(s.frac > 0.01 && s.colors > 20, `blank in log scale: ${JSON.stringify(s)}`);
    await p.click('#lr-log');
    await p.waitForFunction(() => document.querySelector('#lr-chart').dataset.logy === 'true');
    await p.click('#loss-log');
    await p.click('#lr-log');
    await p.waitForFunction(() => document.querySelector('#loss-chart').dataset.logy === 'false' && document.querySelector('#lr-chart').dataset.logy === 'false');
  });

  await test('curves: drag-zoom only when the chart has focus; double-click resets', async () => {
    const box = await p.locator('#loss-chart .u-over').boundingBox();
    await p.waitForFunction(() => Number(document.querySelector('#loss-chart').dataset.xmax) > 1);
    const before = await num('#loss-chart', 'xmax');
    const drag = async () => {
      await p.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
      await p.mouse.down();
      await p.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 });
      await p.mouse.up();
    };
    await p.evaluate(() => document.activeElement?.blur());
    await drag();
    await p.waitForTimeout(150);
    assert((await data('#loss-chart', 'zoomed')) === 'false', 'zoomed without focus');
    assert((await num('#loss-chart', 'xmax')) === before, 'x range changed without focus');
    // the drag above focused the chart (its first click); now a drag zooms
    assert(await p.$eval('#loss-chart', (e) => document.activeElement === e), 'the chart should have focus after a click');
    await drag();
    await p.waitForFunction(() => document.querySelector('#loss-chart').dataset.zoomed === 'true');
    const zoomed = await num('#loss-chart', 'xmax');
    assert(zoomed < before, `zoomed x max ${zoomed} not below ${before}`);
    await p.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
    await p.waitForFunction(() => document.querySelector('#loss-chart').dataset.zoomed === 'false');
    await p.waitForFunction((b) => Number(document.querySelector('#loss-chart').dataset.xmax) === b, before);
  });

  const RUN_B = { id: '20251124-090000-cifar-spikformer', name: 'tiny-attn', status: 'completed', dir: '/ws/.spike-studio/runs/b', bestTop1: null };
  const richEvents = readFileSync(join(root, 'test/fixtures/events/tiny-attention-run.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  const RUN_C = { id: '20251125-101500-mnist-lr3e-4', name: 'mnist-lr3e-4', status: 'completed', dir: '/ws/.spike-studio/runs/c', bestTop1: null };
  const cEvents = events.map((e) => (e.type === 'step' ? { ...e, loss: e.loss * 1.25 + 0.05, acc: typeof e.acc === 'number' ? e.acc * 0.93 : e.acc, lr: e.lr * 0.3 } : e.type === 'eval' ? { ...e, top1: e.top1 * 0.95, top5: Math.min(1, e.top5 * 0.99), loss: e.loss * 1.2 } : e));

  await test('compare: two runs render one series each with distinct colours and a legend', async () => {
    await post({ type: 'init', v: 1, runs: [{ ...RUN, status: 'completed' }, RUN_B], events: { [RUN_ID]: events, [RUN_B.id]: richEvents } });
    await p.waitForFunction(() => document.querySelectorAll('#run-legend .run-item').length === 2 && !document.querySelector('#run-legend').hidden);
    await waitPoints('#loss-chart', stepCount);
    await p.waitForFunction(() => JSON.parse(document.querySelector('#loss-chart').dataset.series || '[]').length >= 4);
    const series = JSON.parse(await data('#loss-chart', 'series'));
    const train = series.filter((x) => x.label.endsWith('train loss'));
    assert(train.length === 2, `train-loss series: ${JSON.stringify(series)}`);
    assert(new Set(train.map((x) => x.run)).size === 2, 'one train-loss series per run');
    assert(train[0].color !== train[1].color, `same colour for both runs: ${train[0].color}`);
    const legend = await p.$$eval('#run-legend .run-item', (items) => items.map((e) => [e.textContent, e.dataset.color]));
    assert(legend[0][0] === 'mnist-spikformer' && legend[1][0] === 'tiny-attn', `legend ${JSON.stringify(legend)}`);
    assert(legend[0][1] === train[0].color && legend[1][1] === train[1].color, 'legend colours match the series');
    for (const sel of ['#loss-chart', '#acc-chart', '#lr-chart', '#ips-chart']) {
      const s = await canvasStats(sel);
      assert(s.frac > 0.01 && s.colors > 20, `${sel} blank: ${JSON.stringify(s)}`);
    }
    // colours are stable: the same run keeps its colour in another comparison
    await post({ type: 'init', v: 1, runs: [RUN_B, RUN_C], events: { [RUN_B.id]: richEvents, [RUN_C.id]: cEvents } });
    await p.waitForFunction(() => document.querySelector('#run-legend .run-item')?.textContent === 'tiny-attn');
    const again = await p.$eval('#run-legend .run-item', (e) => e.dataset.color);
    assert(again === legend[1][1], `tiny-attn changed colour: ${legend[1][1]} → ${again}`);
  });

  await test('export: CSV and PNG buttons post {type:"export"} with both runs\' curves', async () => {
    await post({ type: 'init', v: 1, runs: [{ ...RUN, status: 'completed' }, RUN_B], events: { [RUN_ID]: events, [RUN_B.id]: richEvents } });
    await p.waitForFunction(() => document.querySelectorAll('#run-legend .run-item').length === 2);
    await p.click('#export-csv');
    await p.waitForFunction(() => window.__posted.some((m) => m.type === 'export' && m.format === 'csv'));
    const csv = (await posted()).find((m) => m.type === 'export' && m.format === 'csv');
    const lines = csv.data.trim().split('\n');
    assert(lines[0] === 'run,metric,step,epoch,wall,value', `header ${lines[0]}`);
    const rows = lines.slice(1).map((l) => l.split(','));
    const byRun = (name, metric) => rows.filter((r) => r[0] === name && r[1] === metric).length;
    assert(byRun('mnist-spikformer', 'train_loss') === stepCount, `mnist train_loss rows ${byRun('mnist-spikformer', 'train_loss')} ≠ ${stepCount}`);
    const richSteps = richEvents.filter((e) => e.type === 'step').length;
    assert(byRun('tiny-attn', 'train_loss') === richSteps, `tiny-attn train_loss rows ${byRun('tiny-attn', 'train_loss')} ≠ ${richSteps}`);
    assert(byRun('mnist-spikformer', 'eval_top1') === events.filter((e) => e.type === 'eval').length, 'eval_top1 rows');
    assert(typeof csv.name === 'string' && csv.name.endsWith('.csv'), `name ${csv.name}`);
    await p.click('#export-png');
    await p.waitForFunction(() => window.__posted.some((m) => m.type === 'export' && m.format === 'png'));
    const png = (await posted()).find((m) => m.type === 'export' && m.format === 'png');
    assert(png.data.startsWith('data:image/png;base64,') && png.data.length > 5000, `png ${png.data.slice(0, 40)}… (${png.data.length})`);
  });

  await test('curves: no CSP violations, page errors or logged errors', async () => {
    const csp = await p.evaluate(() => window.__csp);
    assert(csp.length === 0, `CSP violations: ${csp.join('; ')}`);
    assert(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
    const logs = (await posted()).filter((m) => m.type === 'log');
    assert(logs.length === 0, `webview logged: ${JSON.stringify(logs)}`);
  });

  // the compare screenshot: three runs
  await post({ type: 'init', v: 1, runs: [{ ...RUN, status: 'completed' }, RUN_B, RUN_C], events: { [RUN_ID]: events, [RUN_B.id]: richEvents, [RUN_C.id]: cEvents } });
  await p.waitForFunction(() => document.querySelectorAll('#run-legend .run-item').length === 3);
  await p.waitForTimeout(400);
  await p.evaluate(() => document.activeElement?.blur());
  await p.screenshot({ path: join(RESULTS, 'curves-compare.png'), fullPage: true });
  if (UPDATE_SHOTS) copyFileSync(join(RESULTS, 'curves-compare.png'), join(root, 'media/screenshots/curves-compare.png'));

  // the visualisation panels (graph, firing, attention, energy): test/webview/panels.mjs
  await runPanelTests({ ctx, root, test, assert, results });
  // the experiments table: test/webview/experiments.mjs
  await runExperimentsTests({ ctx, root, test, assert, results });
} catch (e) {
  results.push(['harness', e]);
  console.log(`  ✘ harness: ${e?.stack ?? e}`);
} finally {
  await ctx.close().catch(() => {});
  server.close();
  rmSync(profile, { recursive: true, force: true });
}

const failed = results.filter(([, e]) => e).length;
if (existsSync(SCREENSHOT)) console.log(`screenshot: ${SCREENSHOT}${UPDATE_SHOTS ? ` (copied to ${README_SHOT})` : ''}`);
console.log(`webview: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
