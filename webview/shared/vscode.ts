// Typed access to the webview API: acquireVsCodeApi() may be called only once per page.
import type { WebviewToHost } from '../../src/core/protocol';

export interface Host<S> {
  post(message: WebviewToHost): void;
  getState(): S | undefined;
  setState(state: S): void;
}

let api: ReturnType<typeof acquireVsCodeApi> | undefined;

export function host<S>(): Host<S> {
  api ??= acquireVsCodeApi();
  const a = api;
  return {
    post: (message) => a.postMessage(message),
    getState: () => a.getState() as S | undefined,
    setState: (state) => {
      a.setState(state);
    },
  };
}

/** Reads a --vscode-* (or any) CSS variable from the body, with a fallback for when it is unset. */
export function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}
