// Benchmark (not a test): the dashboard streaming 5 runs × 100,000 steps in Chromium. Loads the built bundle
// (`npm run build` first) like run.mjs does, opens a 5-run comparison, then streams 1,000 steps per run per batch,
// once at a 10 Hz host cadence (what DashboardPanel's flush does) and once as fast as the page takes them, while a
// requestAnimationFrame loop records frame times. Prints median / p95 / max frame time, fps and the ratio to the
// 60 fps budget. Usage: npm run bench:webview [-- --points 100000 --runs 5 --batch 1000]
import { chromium } from 'playwright-core';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { serveWebviews, webviewPage } from './page.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 5);
const POINTS = arg('points', 100_000);
const BATCH = arg('batch', 1000);

for (const f of ['dist/webview/dashboard.js', 'dist/webview/dashboard.css']) {
  if (!existsSync(join(root, f))) {
    console.error(`bench: ${f} is missing: run \`npm run build\` first`);
    process.exit(1);
  }
}
if (!existsSync(CHROMIUM)) {
  console.error(`bench: ${CHROMIUM} not found (apt-get install -y chromium fonts-liberation, or set CHROMIUM_PATH)`);
  process.exit(1);
}

const nonce = randomBytes(16).toString('base64');
const server = await serveWebviews(root, (pathname, origin) =>
  pathname === '/' ? webviewPage({ origin, nonce, bundle: 'dashboard', title: 'bench', persistState: false }) : undefined);
const origin = server.origin;

const profile = mkdtempSync(join(tmpdir(), 'spike-bench-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1200, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
});
const p = ctx.pages()[0] ?? (await ctx.newPage());
const errors = [];
p.on('pageerror', (e) => errors.push(String(e)));

/** Streams every run's points in batches (in the page, so the transfer is not measured) and records rAF deltas. */
async function stream(intervalMs) {
  return p.evaluate(
    async ({ RUNS, POINTS, BATCH, intervalMs }) => {
      const ids = Array.from({ length: RUNS }, (_, r) => `bench-run-${r}`);
      const runs = ids.map((id, r) => ({ id, name: `run ${r + 1}`, status: 'running', dir: `/ws/runs/${id}`, bestTop1: null }));
      const events = Object.fromEntries(ids.map((id) => [id, []]));
      window.postMessage({ type: 'init', v: 1, runs, events }, '*');
      await new Promise((r) => setTimeout(r, 200));
      const spe = 1000;
      const seq = ids.map(() => 0);
      const t0 = 1.7e9;
      const batchOf = (r, from) => {
        const out = [];
        for (let s = from; s < Math.min(POINTS, from + BATCH); s++) {
          const step = s + 1;
          const noise = Math.sin(step * 12.9898 + r * 78.233) * 43758.5453;
          const rnd = noise - Math.floor(noise);
          const loss = 2.3 * Math.exp(-step / (20000 + r * 5000)) + 0.1 + 0.2 * rnd + (step % 9973 === 0 ? 3 : 0);
          out.push({ v: 1, t: t0 + step * 0.05, seq: seq[r]++, type: 'step', epoch: Math.floor(s / spe) + 1, step, epoch_step: (s % spe) + 1,
            steps_per_epoch: spe, loss, acc: Math.min(1, 0.1 + step / POINTS * 0.8 + 0.05 * rnd), lr: 1e-3 * Math.cos((step / POINTS) * Math.PI / 2) + 1e-6,
            img_per_s: 2000 + 300 * rnd });
        }
        return out;
      };
      const frames = [];
      let streaming = true;
      let last = performance.now();
      const tick = (now) => {
        frames.push(now - last);
        last = now;
        if (streaming) requestAnimationFrame(tick);
      };
      requestAnimationFrame((now) => {
        last = now;
        requestAnimationFrame(tick);
      });
      const start = performance.now();
      let sent = 0;
      for (let from = 0; from < POINTS; from += BATCH) {
        for (let r = 0; r < RUNS; r++) window.postMessage({ type: 'events', runId: ids[r], events: batchOf(r, from) }, '*');
        sent += RUNS * Math.min(BATCH, POINTS - from);
        await new Promise((res) => setTimeout(res, intervalMs));
      }
      // let the last batch render
      await new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res)));
      streaming = false;
      const elapsed = performance.now() - start;
      const pts = Number(document.querySelector('#loss-chart')?.getAttribute('data-points'));
      return { frames, elapsed, sent, plotted: pts };
    },
    { RUNS, POINTS, BATCH, intervalMs },
  );
}

function summary(label, r) {
  const f = r.frames.filter((x) => x > 0).sort((a, b) => a - b);
  const q = (p) => f[Math.min(f.length - 1, Math.floor(p * (f.length - 1)))];
  const median = q(0.5);
  const p95 = q(0.95);
  const max = f[f.length - 1];
  const fps = 1000 / median;
  const over = f.filter((x) => x > 1000 / 60 + 1).length;
  console.log(
    `${label.padEnd(22)} frames ${String(f.length).padStart(5)}  median ${median.toFixed(1)} ms  p95 ${p95.toFixed(1)} ms  max ${max.toFixed(1)} ms  ` +
      `fps(median) ${fps.toFixed(1)}  fps(mean) ${(1000 * f.length / f.reduce((a, b) => a + b, 0)).toFixed(1)}  ` +
      `median/16.7ms ${(median / (1000 / 60)).toFixed(2)}  p95/16.7ms ${(p95 / (1000 / 60)).toFixed(2)}  frames >17.7 ms ${(100 * over / f.length).toFixed(1)} %  ` +
      `streamed ${r.sent.toLocaleString('en-US')} points in ${(r.elapsed / 1000).toFixed(1)} s (${Math.round(r.sent / (r.elapsed / 1000)).toLocaleString('en-US')} points/s); primary run plotted ${r.plotted.toLocaleString('en-US')}`,
  );
}

try {
  await p.goto(`${origin}/`);
  await p.waitForSelector('#loss-chart canvas');
  console.log(`bench-fps: ${RUNS} runs × ${POINTS.toLocaleString('en-US')} points, ${BATCH} points per run per batch, 4 charts, Chromium headless (software rendering), ${cpus().length} CPUs`);
  let cdp;
  if (process.env.BENCH_PROFILE) {
    cdp = await ctx.newCDPSession(p);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.start');
  }
  summary('10 Hz batches', await stream(100));
  if (cdp) {
    const { profile } = await cdp.send('Profiler.stop');
    const self = new Map();
    const dt = profile.timeDeltas;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    profile.samples.forEach((id, i) => {
      const n = byId.get(id);
      const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`;
      self.set(k, (self.get(k) ?? 0) + (dt[i] ?? 0));
    });
    for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
  summary('max-rate batches', await stream(0));
  if (errors.length) console.log(`page errors: ${errors.join('; ')}`);
} finally {
  await ctx.close().catch(() => {});
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
