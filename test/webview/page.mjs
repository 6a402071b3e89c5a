// The page every webview test and benchmark loads a panel bundle into: the extension's CSP (the server's origin
// standing in for cspSource), VS Code's Dark Modern theme variables, and a fake acquireVsCodeApi that records what
// the webview posts (window.__posted), CSP violations (window.__csp) and keeps setState in sessionStorage so a
// reload restores it; plus the static server for dist/webview/.
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';

const THEME = `html { --vscode-font-family: "Liberation Sans", system-ui, sans-serif; --vscode-font-size: 13px; --vscode-font-weight: normal;
    --vscode-editor-font-family: "Liberation Mono", monospace; --vscode-foreground: #cccccc; --vscode-descriptionForeground: #9d9d9d;
    --vscode-editor-background: #1f1f1f; --vscode-widget-border: #313131; --vscode-charts-lines: rgba(204,204,204,0.25);
    --vscode-charts-blue: #3794ff; --vscode-charts-orange: #d18616; --vscode-charts-green: #89d185; --vscode-charts-purple: #b180d7;
    --vscode-charts-yellow: #cca700; --vscode-charts-red: #f14c4c; --vscode-errorForeground: #f85149; --vscode-editorWidget-background: #202020;
    --vscode-button-background: #0078d4; --vscode-button-foreground: #ffffff; --vscode-button-secondaryBackground: #313131;
    --vscode-button-secondaryForeground: #cccccc; --vscode-badge-background: #616161; --vscode-badge-foreground: #f8f8f8;
    --vscode-focusBorder: #0078d4; --vscode-checkbox-background: #313131; --vscode-checkbox-border: #3c3c3c;
    --vscode-dropdown-background: #313131; --vscode-dropdown-border: #3c3c3c; --vscode-dropdown-foreground: #cccccc; }`;

// persistState false: getState/setState do nothing (the benchmark must not pay for sessionStorage writes).
const fakeApi = (persistState) => `
  window.__posted = []; window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber + ':' + e.columnNumber + ' ' + e.sample));
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    return {
      postMessage: (m) => { window.__posted.push(JSON.parse(JSON.stringify(m))); },
      getState: () => { ${persistState ? "const s = sessionStorage.getItem('vscode-state'); return s ? JSON.parse(s) : undefined;" : 'return undefined;'} },
      setState: (s) => { ${persistState ? "sessionStorage.setItem('vscode-state', JSON.stringify(s)); " : ''}return s; },
    };
  };`;

/** The HTML of `dist/webview/<bundle>.{js,css}` under the extension's CSP (`worker-src blob:` for the graph's layout worker). */
export function webviewPage({ origin, nonce, bundle, title = bundle, workerSrc = false, persistState = true }) {
  const csp = [`default-src 'none'`, `img-src ${origin} data:`, `font-src ${origin}`, `style-src ${origin} 'nonce-${nonce}'`, `script-src 'nonce-${nonce}'`, ...(workerSrc ? ['worker-src blob:'] : [])].join('; ');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta property="csp-nonce" content="${nonce}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${origin}/dist/webview/${bundle}.css" nonce="${nonce}">
<style nonce="${nonce}">
  /* a few of VS Code's Dark Modern theme variables, as the workbench injects them */
  ${THEME}
</style>
<script nonce="${nonce}">${fakeApi(persistState)}
</script>
<title>${title}</title>
</head><body class="vscode-dark" data-vscode-theme-kind="vscode-dark"><main id="app"></main>
<script nonce="${nonce}" src="${origin}/dist/webview/${bundle}.js"></script>
</body></html>`;
}

const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.html': 'text/html' };

/** Serves `htmlFor(pathname, origin)` pages and the files under dist/webview/ on a free loopback port. */
export async function serveWebviews(root, htmlFor) {
  let origin = '';
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const html = htmlFor(url.pathname, origin);
    if (html !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(html);
      return;
    }
    const rel = normalize(decodeURIComponent(url.pathname)).replace(/^[/\\]+/, '');
    if (!rel.startsWith('dist/webview/') || !existsSync(join(root, rel))) {
      res.writeHead(url.pathname === '/favicon.ico' ? 204 : 404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(rel)] ?? 'application/octet-stream' });
    res.end(readFileSync(join(root, rel)));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, close: () => server.close() };
}
