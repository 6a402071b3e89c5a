// Ending what an integration run started, shared by run.mjs and install-vsix.mjs: the Playwright context,
// code-server's process group, then any process whose command line names the run's temp dir (a detached training
// process, say).
import { readdirSync, readFileSync } from 'node:fs';

function running(server) {
  return server && server.exitCode === null && server.signalCode === null;
}

/** SIGTERM to code-server's group and SIGKILL to every process naming `tmp`. Synchronous, so exit handlers can use it. */
export function killAllSync({ server, tmp }) {
  if (running(server)) {
    try { process.kill(-server.pid, 'SIGTERM'); } catch { /* gone */ }
  }
  if (!tmp) return;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd.includes(tmp)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
  }
}

/** Closes the browser context (at most 10 s), ends code-server (SIGTERM, SIGKILL after 5 s), then killAllSync. */
export async function endAll({ server, context, tmp }) {
  if (context) await Promise.race([context.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
  if (running(server)) {
    try { process.kill(-server.pid, 'SIGTERM'); } catch { /* gone */ }
    const exited = await Promise.race([
      new Promise((r) => server.once('exit', () => r(true))),
      new Promise((r) => setTimeout(() => r(false), 5_000)),
    ]);
    if (!exited) try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  killAllSync({ server, tmp });
}
