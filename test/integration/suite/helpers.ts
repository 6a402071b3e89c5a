// Helpers shared by the in-host suites: polling waits that follow events (never fixed sleeps), and run folders.
import * as fs from 'fs';
import * as path from 'path';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined/false, or fails with `what` after `ms`. */
export async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | false, check?: () => void): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    check?.();
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
}

export function listRuns(runsDir: string): string[] {
  try {
    return fs.readdirSync(runsDir).filter((d) => fs.statSync(path.join(runsDir, d)).isDirectory());
  } catch {
    return [];
  }
}

export interface RunEvent {
  type: string;
  status?: string;
  stage?: string;
  [k: string]: unknown;
}

/** The events of a run; unparsable (e.g. torn last) lines are skipped, as the contract requires of readers. */
export function readEvents(runDir: string): RunEvent[] {
  let text = '';
  try {
    text = fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8');
  } catch {
    return [];
  }
  const events: RunEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as RunEvent);
    } catch {
      /* torn or partial line */
    }
  }
  return events;
}

export function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(none)';
  }
}
