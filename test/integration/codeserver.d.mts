// Types of codeserver.mjs (code-server + Chromium launchers for tests), for the TypeScript tests that import it.
import type { ChildProcess } from 'node:child_process';
import type { BrowserContext } from 'playwright-core';

type Log = (...args: unknown[]) => void;
export const REPO: string;
export const CODE_SERVER: string;
export const CHROMIUM: string;
export const PYTHON: string;
export function freePort(): Promise<number>;
export function startCodeServer(options: {
  tmp: string;
  resultsDir: string;
  log: Log;
  firstRun?: boolean;
  env?: Record<string, string>;
  resultsFile?: string;
  onSpawn?: (server: ChildProcess) => void;
}): Promise<{ base: string; port: number; server: ChildProcess }>;
export function workbenchUrl(base: string, port: number, folder: string, extra?: Array<[string, string]>): string;
export function launchBrowser(options: { tmp: string; profile: string; log: Log }): Promise<BrowserContext>;
export interface InHostReport {
  passed: number;
  failed: number;
  tests: Array<{ title: string; state: 'passed' | 'failed' | 'pending'; durationMs?: number; error?: string }>;
}
export function runInHostSuite(options: {
  context: BrowserContext;
  base: string;
  port: number;
  ws: string;
  name: string;
  guardS: number;
  resultsFile: string;
  resultsDir: string;
  log: Log;
}): Promise<{ code: number; report: InHostReport | null }>;
export function endAll(options: { server?: ChildProcess; context?: BrowserContext; tmp?: string }): Promise<void>;
