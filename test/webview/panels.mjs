// Webview tests of the visualisation panels (graph, firing, attention, energy), called from run.mjs with its
// browser context: each built bundle (dist/webview/<panel>.js) in a page with the extension's CSP (worker-src
// blob: included) and a fake acquireVsCodeApi, fed the recorded stream test/fixtures/events/tiny-attention-run.jsonl
// (a real tiny run of the runtime: firing, attention and energy events). Checks: it renders (canvas/SVG not
// blank), an interaction changes what is shown, no CSP violations, the state is restored after a reload.
// Screenshots go to test-results/<panel>.png, and to media/screenshots/<panel>.png with SPIKE_UPDATE_SCREENSHOTS=1.
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { serveWebviews, webviewPage } from './page.mjs';

const PANELS = ['graph', 'firing', 'attention', 'energy'];


/** The predictModel graph message for the fixture's model section (bundled from src/core/arch on the fly). */
async function graphMessage(root, model) {
  const out = await esbuild.build({ entryPoints: [join(root, 'src/core/arch/index.ts')], bundle: true, write: false, format: 'esm', platform: 'node', loader: { '.json': 'json' }, logLevel: 'silent' });
  const mod = await import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
  const p = mod.predictModel(model);
  return { type: 'graph', source: '/ws/tiny.spike.yaml', name: 'tiny-attn', model: { arch: p.arch, variant: p.variant, params: p.params, time_steps: p.time_steps, num_classes: p.num_classes, token_grid: p.token_grid, layers: p.layers } };
}

export async function runPanelTests({ ctx, root, test, assert, results }) {
  for (const panel of PANELS) {
    for (const f of [`dist/webview/${panel}.js`, `dist/webview/${panel}.css`]) {
      if (!existsSync(join(root, f))) {
        results.push([`${panel} bundle`, new Error(`${f} missing: run npm run build`)]);
        return;
      }
    }
  }
  const events = readFileSync(join(root, 'test/fixtures/events/tiny-attention-run.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  const RUN_ID = '20251123-121300-tiny-attn';
  const RUN = { id: RUN_ID, name: 'tiny-attn', status: 'completed', dir: `/ws/.spike-studio/runs/${RUN_ID}`, bestTop1: 0.54 };
  const init = { type: 'init', v: 1, runs: [RUN], events: { [RUN_ID]: events } };
  // the fixture's model section (runtime/tests tiny config, depth 2)
  const graph = await graphMessage(root, { arch: 'spikformer', variant: 'cifar', embed_dim: 32, num_heads: 2, depth: 2, mlp_ratio: 2, time_steps: 2, in_channels: 1, num_classes: 10, img_size: 28 });

  const nonce = randomBytes(16).toString('base64');
  const server = await serveWebviews(root, (pathname, origin) => {
    const m = /^\/panel\/(\w+)$/.exec(pathname);
    return m && PANELS.includes(m[1]) ? webviewPage({ origin, nonce, bundle: m[1], workerSrc: true }) : undefined;
  });
  const origin = server.origin;
  mkdirSync(join(root, 'test-results'), { recursive: true });
  const updateShots = process.env.SPIKE_UPDATE_SCREENSHOTS === '1';
  if (updateShots) mkdirSync(join(root, 'media/screenshots'), { recursive: true });

  async function openPanel(panel) {
    const p = await ctx.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    p.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    p.on('response', (r) => r.status() >= 400 && errors.push(`HTTP ${r.status()} ${r.url()}`));
    await p.goto(`${origin}/panel/${panel}`);
    await p.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
    return { p, errors, post: (msg) => p.evaluate((m) => window.postMessage(m, '*'), msg) };
  }
  async function clean(name, p, errors) {
    await test(`${name}: no CSP violations, page errors or logged errors`, async () => {
      const csp = await p.evaluate(() => window.__csp);
      assert(csp.length === 0, `CSP violations: ${csp.join('; ')}`);
      assert(errors.length === 0, `page errors: ${errors.join('; ')}`);
      const logs = (await p.evaluate(() => window.__posted)).filter((m) => m.type === 'log');
      assert(logs.length === 0, `logged: ${JSON.stringify(logs)}`);
    });
  }
  async function shot(p, panel) {
    await p.waitForTimeout(200);
    const file = join(root, 'test-results', `${panel}.png`);
    await p.screenshot({ path: file, fullPage: true });
    if (updateShots) copyFileSync(file, join(root, 'media/screenshots', `${panel}.png`));
  }
  const canvasStats = (p, sel) =>
    p.$eval(sel, (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const counts = new Map();
      for (let i = 0; i < d.length; i += 4) {
        const k = (d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3];
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      const n = d.length / 4;
      return { frac: (n - Math.max(...counts.values())) / n, colors: counts.size, w: c.width, h: c.height };
    });
  const nonBlank = async (p, sel) => {
    const s = await canvasStats(p, sel);
    assert(s.w > 100 && s.h > 50 && s.frac > 0.02 && s.colors > 5, `${sel} looks blank: ${JSON.stringify(s)}`);
  };
  // a binary mask: background and the two values (or one, when every cell is equal)
  const nonBlankMask = async (p, sel) => {
    const s = await canvasStats(p, sel);
    assert(s.w > 60 && s.h > 50 && s.frac > 0.02 && s.colors >= 2, `${sel} looks blank: ${JSON.stringify(s)}`);
  };
  const reload = async (p) => {
    await p.waitForTimeout(350); // the debounced setState
    await p.reload();
    await p.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
  };

  try {
    // ------------------------------------------------------------------------------------- graph
    {
      const { p, errors, post } = await openPanel('graph');
      const count = () => p.$eval('#graph', (e) => Number(e.dataset.nodes ?? 0));
      let initial = 0;
      await test('graph: draws the config graph (SVG nodes, layout in a blob-URL worker)', async () => {
        await post(graph);
        await p.waitForFunction(() => Number(document.querySelector('#graph')?.dataset.nodes ?? 0) > 0);
        initial = await count();
        const where = await p.$eval('#graph', (e) => e.dataset.layout);
        assert(where === 'worker', `layout ran on ${where}`);
        const kinds = await p.$$eval('#graph .node', (n) => n.map((e) => e.getAttribute('class')));
        assert(kinds.some((k) => k.includes('lif')), 'no LIF node marked');
        assert(kinds.filter((k) => k.includes('k-group')).length === 2, `expected 2 collapsed blocks: ${kinds.length}`);
        const text = await p.$eval('#graph svg', (s) => s.textContent);
        assert(/params/.test(text) && /\[/.test(text), 'nodes lack shapes/params');
        const paths = await p.$$eval('#graph path.edge', (e) => e.length);
        assert(paths >= initial - 1, `edges ${paths}`);
      });
      await test('graph: clicking a block expands it (more nodes); Enter on a focused block too', async () => {
        await p.click('[data-id="group:blocks.0"]');
        await p.waitForFunction((n) => Number(document.querySelector('#graph').dataset.nodes) > n, initial);
        const one = await count();
        await p.focus('[data-id="group:blocks.1"]');
        await p.keyboard.press('Enter');
        await p.waitForFunction((n) => Number(document.querySelector('#graph').dataset.nodes) > n, one);
        const clusters = await p.$$eval('#graph .cluster', (c) => c.length);
        assert(clusters === 4, `clusters ${clusters}`);
      });
      await test('graph: clicking a layer posts revealKey with its config key', async () => {
        await p.click('[data-id="layer:blocks.0.mlp.fc1"]');
        await p.click('[data-id="layer:blocks.0.attn"]');
        const reveals = (await p.evaluate(() => window.__posted)).filter((m) => m.type === 'revealKey').map((m) => m.path);
        assert(reveals.join(',') === 'model.mlp_ratio,model.num_heads', `reveals ${reveals}`);
      });
      await test('graph: a run colours the spiking layers by the latest firing rate', async () => {
        await post(init);
        await p.waitForFunction(() => document.querySelectorAll('#graph .node.rated').length > 5);
        const note = await p.$eval('#graph-run', (e) => e.textContent);
        assert(/eval firing rates/.test(note), note);
      });
      await shot(p, 'graph');
      await clean('graph', p, errors);
      await test('graph: state (model, expanded blocks, colours) restored after reload', async () => {
        const before = await count();
        await reload(p);
        await p.waitForFunction((n) => Number(document.querySelector('#graph')?.dataset.nodes ?? 0) === n, before);
        assert((await p.$$eval('#graph .node.rated', (n) => n.length)) > 5, 'colours lost');
      });
      await p.close();
    }

    // ------------------------------------------------------------------------------------- graph: described models
    // your own model: the runtime's describe of examples/custom/sj-former (test/fixtures/describe/sj-former.json, its
    // torch.fx edges); a preset's predicted graph against the measured one (spikformer-cifar-tiny.json: the runtime's
    // describe of the same model section as `graph` above)
    {
      const { p, errors, post } = await openPanel('graph');
      const described = JSON.parse(readFileSync(join(root, 'test/fixtures/describe/sj-former.json'), 'utf8'));
      const custom = { type: 'graph', source: '/ws/examples/custom/sj-former.spike.yaml', name: 'sj-former', model: described };
      await test('graph (your own model): draws the described edges, grouped by top-level module', async () => {
        await post(custom);
        await p.waitForFunction(() => Number(document.querySelector('#graph')?.dataset.nodes ?? 0) > 0);
        const ids = await p.$$eval('#graph .node', (n) => n.map((e) => e.getAttribute('data-id')));
        for (const id of ['group:stem', 'group:blocks.0', 'layer:stem_lif', 'layer:head']) assert(ids.includes(id), `node ${id} missing: ${ids}`);
        assert((await p.$$eval('#graph path.edge', (e) => e.length)) >= 3, 'the described edges are drawn');
        assert(/torch\.fx/.test(await p.$eval('#graph-summary', (e) => e.textContent)), 'the summary says the edges were traced');
        assert(await p.$eval('#compare-measured', (e) => e.hidden), 'no comparison for a described model');
      });
      await test('graph (your own model): expanding a block draws its layers with the traced branches', async () => {
        await p.click('[data-id="group:blocks.0"]');
        await p.waitForFunction(() => document.querySelector('[data-id="layer:blocks.0.attn.qkv_lif"]') !== null);
        const edges = await p.$$eval('#graph path.edge', (e) => e.length);
        const fxInBlock = described.edges.filter(([a, b]) => a.startsWith('blocks.0.') && b.startsWith('blocks.0.')).length;
        assert(edges >= fxInBlock, `edges drawn ${edges} < fx edges inside the block ${fxInBlock}`);
        const lifs = await p.$$eval('#graph .node.lif', (n) => n.length);
        assert(lifs === 6, `the six SpikingJelly LIFNodes are marked: ${lifs}`);
      });
      await test('graph (your own model): a run colours its neurons by the firing events (same names)', async () => {
        const firing = { v: 1, type: 'firing', t: 1, seq: 1, epoch: 1, step: 2, split: 'eval', layers: described.layers.filter((l) => l.kind === 'lif').map((l, i) => ({ name: l.name, rate: 0.05 * (i + 1) })) };
        const run = { ...RUN, id: 'sj-run', name: 'sj-former' };
        await post({ type: 'init', v: 1, runs: [run], events: { 'sj-run': [firing] } });
        await p.waitForFunction(() => document.querySelectorAll('#graph .node.lif.rated').length === 6);
      });
      await test('graph (preset): "Compare with measured" asks the host, then lists the layers that differ', async () => {
        await post(graph);
        await p.waitForFunction(() => document.querySelector('#graph-title')?.textContent === 'tiny-attn' && !document.querySelector('#compare-measured').hidden);
        await p.click('#compare-measured');
        await p.waitForFunction(() => window.__posted.some((m) => m.type === 'measureGraph'));
        assert(/Measuring/.test(await p.$eval('#graph-compare', (e) => e.textContent)), 'a measuring note while the host describes');
        const measured = JSON.parse(readFileSync(join(root, 'test/fixtures/describe/spikformer-cifar-tiny.json'), 'utf8'));
        await post({ ...graph, model: { ...graph.model, measured: { params: measured.params, layers: measured.layers } } });
        await p.waitForFunction(() => document.querySelector('#graph-compare')?.dataset.diffs === '0');
        assert(/Every layer matches/.test(await p.$eval('#graph-compare', (e) => e.textContent)));
        const changed = measured.layers.map((l) => (l.name === 'blocks.1.mlp.fc1' ? { ...l, params: l.params + 1 } : l));
        await post({ ...graph, model: { ...graph.model, measured: { params: measured.params + 1, layers: changed } } });
        await p.waitForFunction(() => document.querySelector('#graph-compare')?.dataset.diffs === '1');
        const row = await p.$eval('#graph-compare tr.diff', (r) => [r.dataset.layer, r.textContent]);
        assert(row[0] === 'blocks.1.mlp.fc1' && /params/.test(row[1]), `diff row ${row}`);
      });
      await shot(p, 'graph-compare');
      await clean('graph (described, compared)', p, errors);
      await p.close();
    }

    // ------------------------------------------------------------------------------------- firing, live
    // the first minutes of a run: the recorded stream up to its first evaluation, then the rest as a live batch
    {
      const { p, errors, post } = await openPanel('firing');
      const firstEval = events.findIndex((e) => e.type === 'firing' && e.split === 'eval');
      const early = events.slice(0, firstEval);
      const trains = early.filter((e) => e.type === 'firing' && e.split === 'train');
      const live = { ...RUN, status: 'running' };
      await test('firing (live): training firing events, labelled as training, before the first evaluation', async () => {
        assert(trains.length >= 1, 'the fixture has a training firing event before its first evaluation');
        await post({ type: 'init', v: 1, runs: [live], events: { [RUN_ID]: early } });
        await p.waitForFunction(() => document.querySelector('#heatmap')?.dataset.split === 'train');
        assert((await p.$eval('#heatmap', (e) => e.dataset.cols)) === String(trains.length), 'one column per training sample');
        assert((await p.$eval('#firing-empty', (e) => e.hidden)) === true, 'the empty note is hidden');
        assert((await p.$eval('#firing-title', (e) => e.textContent)) === 'Firing rates — training', 'title');
        const badge = await p.$eval('#firing-phase', (e) => (e.hidden ? '' : e.textContent));
        assert(/^training · every .* · until the first evaluation$/.test(badge), `badge: ${badge}`);
        assert(/training \(no evaluation yet\)/.test(await p.$eval('.legend', (e) => e.textContent)), 'legend');
        assert(/training batch/.test(await p.$eval('#firing-selected', (e) => e.textContent)), 'selected note');
        assert(/training, epoch 1, step /.test(await p.$eval('#pert-title', (e) => e.textContent)), 'per-t title');
        await nonBlank(p, '#heatmap canvas');
        await nonBlank(p, '#pert canvas');
      });
      await test('firing (live): the first evaluation replaces the training samples', async () => {
        await post({ type: 'events', runId: RUN_ID, events: events.slice(firstEval) });
        const evals = events.filter((e) => e.type === 'firing' && e.split === 'eval');
        await p.waitForFunction((n) => document.querySelector('#heatmap')?.dataset.split === 'eval' && document.querySelector('#heatmap')?.dataset.cols === String(n), evals.length);
        assert((await p.$eval('#firing-phase', (e) => e.hidden)) === true, 'the training badge is gone');
        assert((await p.$eval('#firing-title', (e) => e.textContent)) === 'Firing rates', 'title');
      });
      await shot(p, 'firing-live');
      await clean('firing (live)', p, errors);
      await p.close();
    }

    // ------------------------------------------------------------------------------------- firing
    {
      const { p, errors, post } = await openPanel('firing');
      const evals = events.filter((e) => e.type === 'firing' && e.split === 'eval');
      await test('firing: heatmap of layer × evaluation from eval firing events', async () => {
        await post(init);
        await p.waitForFunction((n) => document.querySelector('#heatmap')?.dataset.cols === String(n), evals.length);
        const rows = await p.$eval('#heatmap', (e) => Number(e.dataset.rows));
        assert(rows === evals[0].layers.length, `rows ${rows}`);
        await nonBlank(p, '#heatmap canvas');
        await nonBlank(p, '#pert canvas');
        assert((await p.$eval('#pert', (e) => e.dataset.epoch)) === String(evals.at(-1).epoch), 'per-t shows the latest eval');
      });
      await test('firing: clicking a column shows that evaluation per time step', async () => {
        const box = await p.$eval('#heatmap canvas', (c) => { const r = c.getBoundingClientRect(); return { x: r.x, y: r.y }; });
        await p.mouse.click(box.x + 230 + 5, box.y + 40);
        await p.waitForFunction(() => document.querySelector('#heatmap')?.dataset.selected === '0');
        assert((await p.$eval('#pert', (e) => e.dataset.epoch)) === String(evals[0].epoch), 'per-t epoch');
        assert((await p.$eval('#pert', (e) => e.dataset.t)) === '2', 'T = 2 columns');
        assert(/epoch 1/.test(await p.$eval('#pert-title', (e) => e.textContent)), 'title');
        const notes = await p.$eval('#firing-notes', (e) => e.textContent);
        assert(/Dead|Saturated|No dead/.test(notes), notes);
        await p.focus('#heatmap canvas');
        await p.keyboard.press('ArrowRight');
        await p.waitForFunction(() => document.querySelector('#heatmap')?.dataset.selected === '1');
      });
      await shot(p, 'firing');
      await clean('firing', p, errors);
      await test('firing: selected evaluation restored after reload', async () => {
        await reload(p);
        await p.waitForFunction(() => document.querySelector('#heatmap')?.dataset.selected === '1');
        await nonBlank(p, '#heatmap canvas');
      });
      await p.close();
    }

    // ------------------------------------------------------------------------------------- attention
    {
      const { p, errors, post } = await openPanel('attention');
      const key = () => p.$eval('#attn-map', (e) => `${e.dataset.key}|${e.dataset.sum}`);
      await test('attention: decodes and draws the N×N map and the token grid', async () => {
        await post(init);
        await p.waitForFunction(() => document.querySelector('#attn-map')?.dataset.key);
        await p.waitForTimeout(100);
        await nonBlank(p, '#attn-map canvas');
        await nonBlank(p, '#attn-grid canvas');
        const info = await p.$eval('#attn-info', (e) => e.textContent);
        assert(/7×7 tokens \(N = 49\)/.test(info), info);
        assert((await p.$$eval('#attn-toolbar vscode-dropdown', (d) => d.length)) === 5, 'dropdowns');
      });
      await test('attention: choosing another head (dropdown) changes the map', async () => {
        const before = await key();
        await p.click('#dd-head');
        await p.click('#dd-head vscode-option[value="1"]');
        await p.waitForFunction((b) => `${document.querySelector('#attn-map').dataset.key}|${document.querySelector('#attn-map').dataset.sum}` !== b, before);
        const after = await key();
        assert(after.split('|')[0].split(':')[2] === '1', `head not 1: ${after}`);
        assert(after.split('|')[1] !== before.split('|')[1], 'map data unchanged');
      });
      await test('attention: clicking a grid cell / a map row picks the query token', async () => {
        const box = await p.$eval('#attn-grid canvas', (c) => { const r = c.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width }; });
        const cell = (box.w - 6) / 7;
        await p.mouse.click(box.x + 2 + cell * 3.5, box.y + 2 + cell * 2.5); // row 2, col 3 → 17
        await p.waitForFunction(() => document.querySelector('#attn-grid')?.dataset.query === '17');
        const m = await p.$eval('#attn-map canvas', (c) => { const r = c.getBoundingClientRect(); return { x: r.x, y: r.y }; });
        const cellPx = await p.evaluate(() => Math.max(2, Math.min(10, Math.floor(480 / 49))));
        await p.mouse.click(m.x + 24 + 10, m.y + 24 + cellPx * 5 + 1);
        await p.waitForFunction(() => document.querySelector('#attn-grid')?.dataset.query === '5');
      });
      await clean('attention', p, errors);
      await test('attention: choices and query restored after reload', async () => {
        const before = await key();
        await reload(p);
        await p.waitForFunction((b) => document.querySelector('#attn-map')?.dataset.key && `${document.querySelector('#attn-map').dataset.key}|${document.querySelector('#attn-map').dataset.sum}` === b, before);
        assert((await p.$eval('#attn-grid', (e) => e.dataset.query)) === '5', 'query lost');
      });
      await test('attention: the probe input beside the map; the overlay follows the query, the image the sample', async () => {
        await p.waitForFunction(() => document.querySelector('#attn-input')?.dataset.sample === '0');
        assert(await p.$eval('#attn-no-input', (e) => e.hidden), 'no-input note shown');
        assert((await p.$eval('#attn-input', (e) => e.dataset.kind)) === 'image', 'kind');
        await nonBlank(p, '#attn-input canvas.input');
        const caption = await p.$eval('#input-caption', (e) => e.textContent);
        assert(/sample 0 \(label \d\)/.test(caption), caption);
        const img0 = await canvasStats(p, '#attn-input canvas.input');
        const ov5 = await canvasStats(p, '#attn-input canvas.overlay');
        const box = await p.$eval('#attn-grid canvas', (c) => { const r = c.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width }; });
        const cell = (box.w - 6) / 7;
        await p.mouse.click(box.x + 2 + cell * 3.5, box.y + 2 + cell * 2.5); // query 17
        await p.waitForFunction(() => document.querySelector('#attn-input')?.dataset.query === '17');
        const ov17 = await canvasStats(p, '#attn-input canvas.overlay');
        assert(JSON.stringify(ov5) !== JSON.stringify(ov17), 'overlay unchanged by the query');
        assert(JSON.stringify(img0) === JSON.stringify(await canvasStats(p, '#attn-input canvas.input')), 'input changed by the query');
        await shot(p, 'attention'); // query 17: a token inside the digit, its row drawn over the input
        // a click on the overlay picks the query under it (token grid scaled onto the image): row 0, col 0
        const ib = await p.$eval('#attn-input canvas.overlay', (c) => { const r = c.getBoundingClientRect(); return { x: r.x, y: r.y }; });
        await p.mouse.click(ib.x + 5, ib.y + 5);
        await p.waitForFunction(() => document.querySelector('#attn-grid')?.dataset.query === '0');
        await p.click('#dd-sample');
        await p.click('#dd-sample vscode-option[value="1"]');
        await p.waitForFunction(() => document.querySelector('#attn-input')?.dataset.sample === '1');
        await nonBlank(p, '#attn-input canvas.input');
        const img1 = await canvasStats(p, '#attn-input canvas.input');
        assert(JSON.stringify(img0) !== JSON.stringify(img1), 'input unchanged by the sample');
      });
      await test('attention: a run without probe events keeps the layout and says the input was not recorded', async () => {
        const old = events.filter((e) => e.type !== 'probe');
        await post({ ...init, events: { [RUN_ID]: old } });
        await p.waitForFunction(() => !document.querySelector('#attn-no-input')?.hidden);
        const note = await p.$eval('#attn-no-input', (e) => e.textContent);
        assert(/input not recorded for this run/i.test(note), note);
        assert(await p.$eval('#attn-input-figure', (e) => e.hidden), 'input figure still shown');
        await nonBlank(p, '#attn-map canvas');
      });
      await clean('attention (input, overlay)', p, errors);
      await p.close();
    }

    // ------------------------------------------------------------------------------------- attention masks
    // fixtures from real model runs (scripts/mask-fixture.py): QKFormer's QKTA token masks + SSA maps, SDT's SDSA
    // column masks
    {
      const { p, errors, post } = await openPanel('attention');
      const fixture = (f) => readFileSync(join(root, 'test/fixtures/events', f), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
      const runOf = (id, name) => ({ id, name, status: 'completed', dir: `/ws/.spike-studio/runs/${id}`, bestTop1: 0.25 });
      const QK = '20251125-100000-mask-qkformer';
      const SD = '20251125-110000-mask-sdt';
      const qk = fixture('mask-qkformer-run.jsonl');
      const sd = fixture('mask-sdt-run.jsonl');
      const visible = (sel) => p.$eval(sel, (e) => !e.hidden);
      const pickOption = async (dd, value) => {
        await p.click(dd);
        await p.click(`${dd} vscode-option[value="${value}"]`);
      };
      await test('attention masks: a QKTA token mask is drawn on the token grid and over the input, labelled, with no N×N map', async () => {
        await post({ type: 'init', v: 1, runs: [runOf(QK, 'mask-qkformer')], events: { [QK]: qk } });
        await p.waitForFunction(() => document.querySelector('#attn-grid')?.dataset.kind === 'token_mask');
        assert(!(await visible('#attn-map-figure')), 'the map figure is shown for a token mask');
        assert(await visible('#attn-grid-figure'), 'the token grid is hidden');
        await nonBlankMask(p, '#attn-grid canvas');
        const info = await p.$eval('#attn-info', (e) => e.textContent);
        assert(/^Token mask — .*QKTA.* block 0 · head 0 · t = 0 · .* of 256 tokens on/.test(info), info);
        const caption = await p.$eval('#grid-caption', (e) => e.textContent);
        assert(/Token mask of head 0 at t = 0 on the 16×16 token grid/.test(caption), caption);
        const first = qk.find((e) => e.type === 'attention' && e.block === 0 && e.head === 0 && e.time_step === 0);
        const kept = [...Buffer.from(first.map_b64, 'base64')].filter((b) => b > 127).length;
        assert((await p.$eval('#attn-map', (e) => e.dataset.kept)) === String(kept), 'kept count');
        assert((await canvasStats(p, '#attn-input canvas.overlay')).frac > 0, 'no mask overlay on the input');
        assert(/overlay: the token mask \(16×16 grid/.test(await p.$eval('#input-note', (e) => e.textContent)), 'input note');
      });
      await test('attention masks: another time step / head shows its own mask', async () => {
        const before = await p.$eval('#attn-map', (e) => `${e.dataset.key}|${e.dataset.kept}`);
        await pickOption('#dd-t', '1');
        await p.waitForFunction((b) => `${document.querySelector('#attn-map').dataset.key}|${document.querySelector('#attn-map').dataset.kept}` !== b, before);
        const want = qk.find((e) => e.type === 'attention' && e.block === 0 && e.head === 0 && e.time_step === 1);
        const kept = [...Buffer.from(want.map_b64, 'base64')].filter((b) => b > 127).length;
        assert((await p.$eval('#attn-map', (e) => e.dataset.kept)) === String(kept), 'kept count at t = 1');
        await shot(p, 'attention-token-mask');
      });
      await test('attention masks: the SSA block of the same model is an N×N map again', async () => {
        await pickOption('#dd-block', '2');
        await p.waitForFunction(() => document.querySelector('#attn-map')?.dataset.kind === 'map');
        assert(await visible('#attn-map-figure') && await visible('#attn-grid-figure'), 'map and grid shown');
        const info = await p.$eval('#attn-info', (e) => e.textContent);
        assert(/4×4 tokens \(N = 16\)/.test(info), info);
        await nonBlank(p, '#attn-map canvas');
      });
      await test('attention masks: an SDSA column mask is a channel strip of the head, labelled, without the token grid', async () => {
        await post({ type: 'init', v: 1, runs: [runOf(SD, 'mask-sdt')], events: { [SD]: sd } });
        await p.waitForFunction(() => document.querySelector('#attn-map')?.dataset.kind === 'column_mask');
        assert(await visible('#attn-map-figure'), 'strip hidden');
        assert(!(await visible('#attn-grid-figure')), 'a token grid is shown for a column mask');
        const length = await p.$eval('#attn-map', (e) => e.dataset.length);
        assert(length === '16', `length ${length}`);
        await nonBlankMask(p, '#attn-map canvas');
        const caption = await p.$eval('#attn-map-figure figcaption', (e) => e.textContent);
        assert(/^Column mask of head \d at t = \d — \d+ of 16 channels on/.test(caption), caption);
        assert(/SDSA/.test(await p.$eval('#attn-info', (e) => e.textContent)), 'info names SDSA');
        assert(/no overlay: the mask is over channels/.test(await p.$eval('#input-note', (e) => e.textContent)), 'input note');
        await shot(p, 'attention-column-mask');
      });
      await test('attention masks: a map run after a mask run shows the map and its query again', async () => {
        await post(init);
        await p.waitForFunction(() => document.querySelector('#attn-map')?.dataset.kind === 'map' && document.querySelector('#attn-map')?.dataset.query !== undefined);
        assert(await visible('#attn-grid-figure'), 'grid hidden');
        assert((await p.$eval('#attn-map-figure figcaption', (e) => e.textContent)) === 'Map (query × key)', 'map caption');
      });
      await clean('attention masks', p, errors);
      await p.close();
    }

    // ------------------------------------------------------------------------------------- energy
    {
      const { p, errors, post } = await openPanel('energy');
      const energy = events.filter((e) => e.type === 'energy');
      await test('energy: per-layer bars, total, convention and eval top-1', async () => {
        await post(init);
        await p.waitForFunction((n) => document.querySelector('#energy-chart')?.dataset.bars === String(n), energy.at(-1).layers.length);
        await nonBlank(p, '#energy-chart canvas');
        const total = await p.$eval('#kpi-total', (e) => e.textContent);
        assert(/J$/.test(total), `total ${total}`);
        const conv = await p.$eval('#energy-convention', (e) => e.textContent);
        assert(conv.includes(energy.at(-1).convention), conv);
        const top1 = await p.$eval('#kpi-top1', (e) => e.textContent);
        assert(/%$/.test(top1), `top1 ${top1}`);
      });
      await test('energy: switching the metric to SOPs redraws', async () => {
        const before = await canvasStats(p, '#energy-chart canvas');
        await p.click('#dd-metric');
        await p.click('#dd-metric vscode-option[value="sops"]');
        await p.waitForFunction(() => document.querySelector('#energy-chart')?.dataset.metric === 'sops');
        const after = await canvasStats(p, '#energy-chart canvas');
        assert(JSON.stringify(before) !== JSON.stringify(after), 'canvas unchanged');
        await p.click('#dd-metric');
        await p.click('#dd-metric vscode-option[value="mj"]');
        await p.waitForFunction(() => document.querySelector('#energy-chart')?.dataset.metric === 'mj');
        await p.click('#dd-energy-eval');
        await p.click(`#dd-energy-eval vscode-option[value="${energy[0].seq}"]`);
        await p.waitForFunction((s) => document.querySelector('#energy-chart')?.dataset.seq === String(s), energy[0].seq);
      });
      await clean('energy', p, errors);
      await test('energy: chosen evaluation restored after reload', async () => {
        await reload(p);
        await p.waitForFunction((s) => document.querySelector('#energy-chart')?.dataset.seq === String(s), energy[0].seq);
        await nonBlank(p, '#energy-chart canvas');
        assert(await p.$eval('#energy-tradeoff', (e) => e.hidden), 'one run: no trade-off chart');
      });

      // compared runs: two more derived from the fixture (energy and top-1 scaled; the third with another convention)
      const derive = (id, mjScale, sopScale, top1Delta, convention) =>
        events.map((e) => {
          if (e.type === 'energy') return { ...e, total_mj: e.total_mj * mjScale, convention: convention ?? e.convention, layers: e.layers.map((l) => ({ ...l, mj: l.mj * mjScale, sops: Math.round(l.sops * sopScale) })) };
          if (e.type === 'eval') return { ...e, top1: Math.min(1, Math.max(0, e.top1 + top1Delta)) };
          return e;
        }).filter((e) => e.type === 'energy' || e.type === 'eval');
      const RUN_B = '20251124-090000-tiny-attn-small';
      const RUN_C = '20251124-100000-tiny-attn-wide';
      const runs = [RUN, { ...RUN, id: RUN_B, name: 'tiny-small' }, { ...RUN, id: RUN_C, name: 'tiny-wide' }];
      const evB = derive(RUN_B, 0.5, 0.5, -0.08);
      const evC = derive(RUN_C, 1.8, 2.2, 0.06, 'mixed: MAC 4.6 pJ, AC 0.9 pJ (45 nm)');
      const cmp = { type: 'init', v: 1, runs, events: { [RUN_ID]: events }, compared: [
        { runId: RUN_ID, events: events.filter((e) => e.type === 'energy' || e.type === 'eval') },
        { runId: RUN_B, events: evB },
        { runId: RUN_C, events: evC },
      ] };
      const barsSum = () => p.$eval('#kpi-total', (e) => e.textContent);
      await test('energy compare: an energy–accuracy chart with one point per run, labelled, with the conventions', async () => {
        await post(cmp);
        await p.waitForFunction(() => document.querySelector('#energy-tradeoff')?.dataset.points === '3');
        assert(!(await p.$eval('#energy-tradeoff', (e) => e.hidden)), 'trade-off chart hidden');
        await nonBlank(p, '#energy-tradeoff canvas');
        const names = await p.$$eval('#energy-tradeoff-legend [data-run]', (bs) => bs.map((b) => b.textContent));
        assert(names.length === 3 && names[0].includes('tiny-attn') && names[1].includes('tiny-small') && names[2].includes('tiny-wide'), JSON.stringify(names));
        const note = await p.$eval('#energy-tradeoff-note', (e) => e.textContent);
        assert(/different conventions/.test(note) && note.includes('MAC 4.6 pJ'), note);
        assert((await p.$eval('#energy-chart', (e) => e.dataset.run)) === RUN_ID, 'the primary run’s bars first');
      });
      await test('energy compare: clicking a point shows that run’s bars', async () => {
        const before = await barsSum();
        const statsBefore = await canvasStats(p, '#energy-chart canvas');
        const { x, y } = await p.$eval(`#energy-tradeoff-legend [data-run="${RUN_C}"]`, (b) => ({ x: Number(b.dataset.x), y: Number(b.dataset.y) }));
        const box = await (await p.$('#energy-tradeoff canvas')).boundingBox();
        await p.mouse.click(box.x + x, box.y + y);
        await p.waitForFunction((id) => document.querySelector('#energy-chart')?.dataset.run === id, RUN_C);
        assert((await p.$eval('#energy-tradeoff', (e) => e.dataset.selected)) === RUN_C, 'point not selected');
        const after = await barsSum();
        assert(after !== before, `total unchanged: ${before} → ${after}`);
        const conv = await p.$eval('#energy-convention', (e) => e.textContent);
        assert(conv.includes('MAC 4.6 pJ'), conv);
        assert(JSON.stringify(statsBefore) !== JSON.stringify(await canvasStats(p, '#energy-chart canvas')), 'bars unchanged');
      });
      await test('energy compare: a point can be selected from the keyboard', async () => {
        await p.focus(`#energy-tradeoff-legend [data-run="${RUN_B}"]`);
        await p.keyboard.press('Enter');
        await p.waitForFunction((id) => document.querySelector('#energy-chart')?.dataset.run === id, RUN_B);
        assert((await p.$eval(`#energy-tradeoff-legend [data-run="${RUN_B}"]`, (b) => b.getAttribute('aria-selected'))) === 'true');
        await p.focus(`#energy-tradeoff-legend [data-run="${RUN_ID}"]`);
        await p.keyboard.press('Enter');
        await p.waitForFunction((id) => document.querySelector('#energy-chart')?.dataset.run === id, RUN_ID);
        await p.mouse.move(0, 0);
      });
      await shot(p, 'energy');
      await clean('energy compare', p, errors);
      await test('energy compare: the compared runs are kept for the host after a reload', async () => {
        await reload(p);
        const state = await p.evaluate(() => JSON.parse(sessionStorage.getItem('vscode-state')));
        assert(JSON.stringify(state.ui.compared) === JSON.stringify([RUN_ID, RUN_B, RUN_C]), JSON.stringify(state.ui));
        await post(cmp);
        await p.waitForFunction(() => document.querySelector('#energy-tradeoff')?.dataset.points === '3');
      });
      await p.close();
    }
  } finally {
    server.close();
  }
}
