// B: the UI-driven test, as a user would do it, in the workbench with the extension under development loaded.
// Open smoke.spike.yaml (Quick Open), F1 → "Spike Studio: Train" (CLICK the row: Enter runs the highlighted fuzzy
// match), wait for the dashboard webview, see #loss-chart[data-points] grow, screenshot, then
// "Spike Studio: Stop Training" and wait for #run-status to say stopped/completed.
// pick / findWebview / points are also used by install-vsix.mjs (the installed-.vsix Train flow).
import { join } from 'node:path';

const PALETTE_INPUT = '.quick-input-widget input.input';
const ROWS = '.quick-input-widget .quick-input-list .monaco-list-row';

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Opens the quick input with F1, types `text`, and clicks the row whose label is exactly `label`. */
export async function pick(page, text, label, { timeout = 20_000 } = {}) {
  const input = page.locator(PALETTE_INPUT);
  for (let attempt = 0; ; attempt++) {
    await page.keyboard.press('F1');
    try {
      await input.waitFor({ state: 'visible', timeout: 4_000 });
      break;
    } catch (e) {
      if (attempt >= 2) throw new Error(`the command palette did not open: ${e.message}`);
      // Focus may sit in a webview that swallowed the key: focus the workbench and try again.
      await page.locator('.monaco-workbench .part.statusbar').click({ position: { x: 2, y: 2 } }).catch(() => {});
    }
  }
  await input.fill(text);
  const exact = page.locator(ROWS).filter({ has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${escapeRe(label)}\\s*$`) }) });
  const loose = page.locator(ROWS, { hasText: label });
  const end = Date.now() + timeout;
  for (;;) {
    if (await exact.count()) { await exact.first().click(); return; }
    if (Date.now() > end && (await loose.count())) { await loose.first().click(); return; }
    if (Date.now() > end + 2_000) {
      const shown = await page.locator(ROWS).allInnerTexts().catch(() => []);
      throw new Error(`no "${label}" row in the quick input after typing "${text}"; rows: ${JSON.stringify(shown.slice(0, 10))}`);
    }
    await page.waitForTimeout(200);
  }
}

/** The inner webview frame (of the newest panel) that holds `selector`; polls until one appears. */
export async function findWebview(page, selector, timeout) {
  const end = Date.now() + timeout;
  for (;;) {
    const n = await page.locator('iframe.webview.ready').count();
    for (let i = n - 1; i >= 0; i--) {
      const inner = page.frameLocator(`iframe.webview.ready >> nth=${i}`).frameLocator('iframe#active-frame');
      if (await inner.locator(selector).count().catch(() => 0)) return inner;
    }
    if (Date.now() > end) throw new Error(`no webview with ${selector} within ${timeout} ms (${n} webviews open)`);
    await page.waitForTimeout(500);
  }
}

/** #loss-chart's data-points attribute as a number (NaN when absent). */
export async function points(chart) {
  const v = await chart.getAttribute('data-points', { timeout: 5_000 }).catch(() => null);
  return v === null ? NaN : Number(v);
}

export async function runUiTest({ page, url, resultsDir, log }) {
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  await page.waitForSelector('.statusbar', { timeout: 60_000 });
  log('B: workbench loaded');

  // Open smoke.spike.yaml through Quick Open (F1 with the ">" removed is Go to File).
  await pick(page, 'smoke.spike.yaml', 'smoke.spike.yaml', { timeout: 30_000 });
  await page.locator('.tabs-container .tab.active', { hasText: 'smoke.spike.yaml' }).waitFor({ timeout: 20_000 });
  log('B: smoke.spike.yaml open');

  await pick(page, '>Spike Studio: Train', 'Spike Studio: Train');
  log('B: clicked "Spike Studio: Train"');

  const web = await findWebview(page, '#loss-chart', 60_000);
  const chart = web.locator('#loss-chart');
  log('B: dashboard webview found');

  // data-points must grow between two readings.
  const first = await points(chart);
  let later = first;
  const end = Date.now() + 150_000;
  while (!(later > (Number.isNaN(first) ? 0 : first)) || Number.isNaN(later)) {
    if (Date.now() > end) throw new Error(`#loss-chart data-points did not grow (first ${first}, last ${later})`);
    await page.waitForTimeout(500);
    later = await points(chart);
  }
  log(`B: #loss-chart data-points ${first} → ${later}`);
  // Let a few more points land so the screenshot shows a curve.
  const want = later + 3;
  const end2 = Date.now() + 20_000;
  while ((await points(chart)) < want && Date.now() < end2) await page.waitForTimeout(500);
  await page.screenshot({ path: join(resultsDir, 'vscode-dashboard.png') });
  log('B: screenshot test-results/vscode-dashboard.png');

  await pick(page, '>Spike Studio: Stop Training', 'Spike Studio: Stop Training');
  log('B: clicked "Spike Studio: Stop Training"');
  const status = web.locator('#run-status');
  await status.filter({ hasText: /stopped|completed/i }).waitFor({ timeout: 90_000 }).catch(async (e) => {
    const text = await status.innerText({ timeout: 2_000 }).catch(() => '(no #run-status)');
    throw new Error(`#run-status did not show stopped/completed; it shows "${text}" (${e.message.split('\n')[0]})`);
  });
  log(`B: #run-status = "${(await status.innerText()).trim()}"`);

  // The Runs view (activity bar → Spike Studio) lists the run with its final status.
  await page.locator('.activitybar .action-item a[aria-label^="Spike Studio"]').first().click();
  const row = page.locator('.pane-body .monaco-list-row', { hasText: 'smoke' }).first();
  await row.waitFor({ timeout: 20_000 }).catch((e) => {
    throw new Error(`the Runs view shows no row for the smoke run (${e.message.split('\n')[0]})`);
  });
  log(`B: Runs view row: "${(await row.innerText()).replace(/\s+/g, ' ').trim()}"`);
  await page.screenshot({ path: join(resultsDir, 'vscode-runs.png') });
}
