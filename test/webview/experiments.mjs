// Webview test of the experiments table (dist/webview/experiments.js): fed the table of a real local sweep
// (test/fixtures/experiments/table.json, written by test/slurm/sweep-local.test.ts) plus one run outside sweeps.
// Checks: rows grouped by sweep, sort by best top-1 (both ways, empty last), filter, select → compareRuns, CSV export
// of the shown rows in the shown order, state restored after a reload, no CSP violations.
// Called from run.mjs; standalone: node test/webview/experiments.mjs
import { chromium } from 'playwright-core';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { serveWebviews, webviewPage } from './page.mjs';

export async function runExperimentsTests({ ctx, root, test, assert }) {
  const table = JSON.parse(readFileSync(join(root, 'test/fixtures/experiments/table.json'), 'utf8'));
  const lone = { ...table.rows[0], id: '20251201-100000-lone', name: 'lone', sweepId: null, bestTop1: null, finalTop1: null, status: 'failed' };
  table.rows.push(lone);
  table.groups.push({ sweepId: null, rows: [lone] });
  const nonce = randomBytes(16).toString('base64');
  const server = await serveWebviews(root, (pathname, origin) => (pathname === '/experiments' || pathname === '/dashboard' ? webviewPage({ origin, nonce, bundle: pathname.slice(1) }) : undefined));
  const p = await ctx.newPage();
  const errors = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  p.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
  try {
    await p.goto(`${server.origin}/experiments`);
    await p.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
    await p.evaluate((t) => window.postMessage({ type: 'table', table: t }, '*'), table);
    await p.waitForSelector('#exp-table tr[data-run]');
    const ids = () => p.$$eval('#exp-table tr[data-run]', (trs) => trs.map((t) => t.getAttribute('data-run')));
    const top1 = (rows) => rows.map((id) => table.rows.find((r) => r.id === id).bestTop1);

    await test('experiments: one row per run, grouped by sweep, differing config values as columns', async () => {
      assert((await ids()).length === 5, `rows: ${await ids()}`);
      const groups = await p.$$eval('#exp-table tr.group-row', (trs) => trs.map((t) => t.textContent));
      assert(groups.length === 2 && /sweep .* 4 runs/.test(groups[0]) && /outside sweeps · 1 run/.test(groups[1]), `groups: ${groups}`);
      const heads = await p.$$eval('#exp-table th[data-key]', (ths) => ths.map((t) => t.getAttribute('data-key')));
      for (const k of ['config:train.lr', 'config:model.depth', 'bestTop1', 'finalTop1', 'finalLoss', 'energyMj', 'imgPerS', 'params', 'durationS', 'status']) assert(heads.includes(k), `no column ${k}: ${heads}`);
    });

    await test('experiments: sorted by best top-1 (descending, then ascending; empty last)', async () => {
      await p.click('#exp-group'); // ungrouped: one sorted list
      await p.click('#exp-table th[data-key="bestTop1"]');
      let order = top1(await ids());
      assert(order[order.length - 1] === null, `empty last: ${order}`);
      const desc = order.slice(0, -1);
      assert(desc.every((v, i) => i === 0 || desc[i - 1] >= v), `descending: ${order}`);
      await p.click('#exp-table th[data-key="bestTop1"]');
      order = top1(await ids());
      const asc = order.slice(0, -1);
      assert(order[order.length - 1] === null && asc.every((v, i) => i === 0 || asc[i - 1] <= v), `ascending: ${order}`);
      await p.click('#exp-table th[data-key="bestTop1"]'); // back to descending for the CSV
    });

    await test('experiments: CSV export posts the shown rows in the shown order to the host', async () => {
      const shown = await ids();
      await p.click('#exp-csv');
      const m = (await p.evaluate(() => window.__posted)).filter((x) => x.type === 'export').pop();
      assert(m && m.format === 'csv' && m.name === 'experiments.csv', JSON.stringify(m));
      const lines = m.data.trimEnd().split('\r\n');
      assert(lines[0].startsWith('run,sweep,train.lr,model.depth,best top-1,final top-1,final loss'), lines[0]);
      assert(JSON.stringify(lines.slice(1).map((l) => l.split(',')[0])) === JSON.stringify(shown), `${lines.slice(1)} vs ${shown}`);
      const first = table.rows.find((r) => r.id === shown[0]);
      assert(lines[1].split(',')[4] === String(first.bestTop1), lines[1]);
    });

    await test('experiments: filter, select rows → compare curves and energy', async () => {
      await p.fill('#exp-filter', 'lone');
      assert((await ids()).length === 1, 'filter keeps one row');
      await p.fill('#exp-filter', '');
      const shown = await ids();
      await p.click(`#exp-table tr[data-run="${shown[0]}"] input[type=checkbox]`);
      await p.click(`#exp-table tr[data-run="${shown[1]}"] input[type=checkbox]`);
      await p.click('#exp-compare');
      await p.click('#exp-energy');
      const posted = (await p.evaluate(() => window.__posted)).filter((x) => x.type === 'compareRuns');
      assert(posted.length === 2 && posted[0].view === 'curves' && posted[1].view === 'energy', JSON.stringify(posted));
      assert(JSON.stringify(posted[0].runIds) === JSON.stringify(shown.slice(0, 2)), JSON.stringify(posted[0]));
    });

    await test('experiments: screenshot; the sort and selection survive a reload', async () => {
      await p.click('#exp-group'); // grouped again for the picture
      await p.evaluate(() => document.activeElement?.blur());
      mkdirSync(join(root, 'test-results'), { recursive: true });
      await p.screenshot({ path: join(root, 'test-results/experiments.png'), fullPage: true });
      if (process.env.SPIKE_UPDATE_SCREENSHOTS === '1') copyFileSync(join(root, 'test-results/experiments.png'), join(root, 'media/screenshots/experiments.png'));
      await p.reload();
      await p.waitForSelector('#exp-table tr[data-run]');
      const aria = await p.$eval('#exp-table th[data-key="bestTop1"]', (th) => th.getAttribute('aria-sort'));
      assert(aria === 'descending', `aria-sort ${aria}`);
      assert((await p.$$('#exp-table tr.selected')).length === 2, 'selection restored');
    });

    await test('dashboard: a requeued event is marked on the curves', async () => {
      const d = await ctx.newPage();
      try {
        await d.goto(`${server.origin}/dashboard`);
        await d.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
        const events = readFileSync(join(root, 'test/fixtures/events/mnist-run.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
        const steps = events.filter((e) => e.type === 'step');
        const at = steps[Math.floor(steps.length / 2)];
        const withRequeue = [...events.filter((e) => e.seq <= at.seq), { v: 1, type: 'requeued', t: at.t + 1, seq: at.seq + 0.5, epoch: at.epoch, step: at.step, restarts: 1, job_id: '7' }, ...events.filter((e) => e.seq > at.seq)];
        const run = { id: 'r', name: 'r', status: 'completed', dir: '/ws/r', bestTop1: null };
        await d.evaluate((m) => window.postMessage(m, '*'), { type: 'init', v: 1, runs: [run], events: { r: withRequeue } });
        await d.waitForFunction(() => [...document.querySelectorAll('[data-markers]')].some((c) => c.dataset.markers.includes('requeued')), null, { timeout: 10_000 });
        const markers = await d.$eval('[data-markers]', (c) => JSON.parse(c.dataset.markers));
        assert(markers.length === 1 && markers[0].x === at.step, JSON.stringify(markers));
      } finally {
        await d.close();
      }
    });

    await test('experiments: no CSP violations or page errors', async () => {
      const csp = await p.evaluate(() => window.__csp);
      assert(csp.length === 0, `CSP: ${csp.join('; ')}`);
      assert(errors.length === 0, `errors: ${errors.join('; ')}`);
    });
  } finally {
    await p.close();
    server.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const profile = mkdtempSync(join(tmpdir(), 'spike-webview-exp-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, viewport: { width: 1200, height: 700 }, args: ['--no-sandbox', '--disable-gpu'] });
  const results = [];
  const test = async (name, fn) => {
    try {
      await fn();
      results.push([name, null]);
      console.log(`  ✔ ${name}`);
    } catch (e) {
      results.push([name, e]);
      console.log(`  ✘ ${name}\n      ${e?.message ?? e}`);
    }
  };
  const assert = (c, m) => {
    if (!c) throw new Error(m);
  };
  try {
    await runExperimentsTests({ ctx, root, test, assert, results });
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
  const failed = results.filter(([, e]) => e).length;
  console.log(`webview: ${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
