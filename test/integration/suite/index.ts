// Entry of the in-host integration suite: VS Code's extension host `require`s out/integration/index.js (bundled
// by scripts/build.mjs with `vscode` and `mocha` external) and awaits run(). test/integration/run.mjs opens the
// workbench with extensionTestsPath pointing here and reads the exit code via codeAutomationExit.
// When SPIKE_IT_RESULTS is set (by run.mjs, through code-server's environment) a JSON summary is written there.
// SPIKE_IT_GREP runs only the tests whose full title matches it (test/slurm/runs-view.test.ts: the Slurm suite).
import * as fs from 'fs';

interface TestResult {
  title: string;
  state: 'passed' | 'failed' | 'pending';
  durationMs?: number;
  error?: string;
}

export function run(): Promise<void> {
  // mocha 11 is CommonJS; `.default` covers an ESM-only mocha 12 too.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('mocha');
  const Mocha = mod.default ?? mod;
  // SPIKE_IT_GREP (through code-server's environment): run only the matching tests, e.g. "your own model"
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 60_000, reporter: 'spec', ...(process.env.SPIKE_IT_GREP ? { grep: process.env.SPIKE_IT_GREP } : {}) });
  // The test files are bundled into this file, so define mocha's globals (suite, test, ...) and require them.
  mocha.suite.emit('pre-require', globalThis, 'extension.test.ts', mocha);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./extension.test');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./authoring.test');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./panels.test');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./onnx.test');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./firstrun.test');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./download.test');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./sweep.test');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./slurm.test'); // skipped unless SPIKE_IT_SLURM names a running test cluster
  require('./custom.test');

  const results: TestResult[] = [];
  const write = (): void => {
    const out = process.env.SPIKE_IT_RESULTS;
    if (!out) return;
    const passed = results.filter((r) => r.state === 'passed').length;
    const failed = results.filter((r) => r.state === 'failed').length;
    console.log(`[spike-it] in-host suite: ${passed} passing, ${failed} failing`);
    try {
      fs.writeFileSync(out, JSON.stringify({ passed, failed, tests: results }, null, 2));
    } catch (e) {
      console.error(`could not write ${out}: ${String(e)}`);
    }
  };

  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures: number) => {
      write();
      if (failures > 0) reject(new Error(`${failures} integration test(s) failed.`));
      else resolve();
    });
    // console.log reaches the browser console; run.mjs echoes the lines tagged [spike-it] (mocha's own spec
    // reporter output arrives there too, in test-results/integration-A-console.log).
    runner.on('pass', (t: { fullTitle(): string; duration?: number }) => {
      results.push({ title: t.fullTitle(), state: 'passed', durationMs: t.duration });
      console.log(`[spike-it] ✔ ${t.fullTitle()} (${t.duration ?? 0} ms)`);
    });
    runner.on('fail', (t: { fullTitle(): string }, err: Error) => {
      results.push({ title: t.fullTitle(), state: 'failed', error: String(err?.stack ?? err) });
      console.log(`[spike-it] ✘ ${t.fullTitle()}: ${String(err?.message ?? err).split('\n')[0]}`);
    });
    runner.on('pending', (t: { fullTitle(): string }) => results.push({ title: t.fullTitle(), state: 'pending' }));
  });
}
