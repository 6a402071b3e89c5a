// Third-party notices for what the .vsix ships: the npm packages bundled into dist/extension.js and the webview
// bundles (read from esbuild's metafiles), onnxruntime-node and onnxruntime-common (shipped as node_modules), and
// the embedded MNIST digits. Written by scripts/build.mjs to dist/THIRD_PARTY_NOTICES.md (temp file, then rename).
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Packages shipped as node_modules rather than bundled. */
export const SHIPPED_NODE_MODULES = ['onnxruntime-node', 'onnxruntime-common'];

/** The package names whose files appear among a metafile's inputs ("node_modules/@scope/name/…" or ".../name/…"). */
export function packagesOf(metafile) {
  const names = new Set();
  for (const input of Object.keys(metafile?.inputs ?? {})) {
    const path = input.replace(/\\/g, '/');
    const at = path.lastIndexOf('node_modules/'); // the innermost package of a nested node_modules
    const match = at >= 0 ? /^((?:@[^/]+\/)?[^/]+)\//.exec(path.slice(at + 'node_modules/'.length)) : null;
    if (match) names.add(match[1]);
  }
  return [...names];
}

const LICENSE_FILE = /^(licen[cs]e|copying|notice)s?(\.(md|txt))?$/i;

function authorOf(pkg) {
  const author = pkg.author;
  if (!author) return undefined;
  return typeof author === 'string' ? author : [author.name, author.email && `<${author.email}>`].filter(Boolean).join(' ');
}

/** One package's entry: name, version, licence, homepage and its licence files' text (when it ships any). */
export function describePackage(root, name) {
  const dir = join(root, 'node_modules', name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const files = readdirSync(dir).filter((f) => LICENSE_FILE.test(f)).sort();
  const license = typeof pkg.license === 'string' ? pkg.license : pkg.license?.type ?? 'UNKNOWN';
  const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  return {
    name,
    version: pkg.version,
    license,
    author: authorOf(pkg),
    homepage: pkg.homepage ?? repo,
    texts: files.map((f) => ({ file: f, text: readFileSync(join(dir, f), 'utf8').trim() })),
  };
}

const MNIST_NOTE = [
  '## The embedded MNIST digits',
  '',
  'runtime/spikestudio/data/embedded/mnist-npm.bin holds the 10,000 digits of the npm package `mnist@1.1.0`',
  '(Juan Cazala, MIT License), drawn from the MNIST database of Yann LeCun, Corinna Cortes and Christopher J.C.',
  'Burges, made available under the Creative Commons Attribution-Share Alike 3.0 license',
  '(https://creativecommons.org/licenses/by-sa/3.0/).',
].join('\n');

/** The notices document for these packages (sorted by name, each once). */
export function renderNotices(entries) {
  const unique = [...new Map(entries.map((e) => [e.name, e])).values()].sort((a, b) => a.name.localeCompare(b.name));
  const parts = [
    '# Third-party notices',
    '',
    'Spike Studio ships the following third-party software. Each is listed with its licence; where the package',
    'ships licence or notice files, their text follows.',
    '',
  ];
  for (const e of unique) {
    parts.push(`## ${e.name} ${e.version} (${e.license})`, '');
    if (e.author) parts.push(`Author: ${e.author}`, '');
    if (e.homepage) parts.push(`Source: ${e.homepage}`, '');
    if (e.texts.length === 0) parts.push(`No licence file is included in the npm package; its package.json declares ${e.license}.`, '');
    for (const t of e.texts) parts.push('```text', t.text, '```', '');
  }
  parts.push(MNIST_NOTE, '');
  return parts.join('\n');
}

/** Writes dist/THIRD_PARTY_NOTICES.md from the shipped bundles' metafiles; returns the package names listed. */
export function writeNotices(root, metafiles) {
  const names = new Set(SHIPPED_NODE_MODULES);
  for (const m of metafiles) for (const n of packagesOf(m)) names.add(n);
  const entries = [...names].filter((n) => existsSync(join(root, 'node_modules', n, 'package.json'))).map((n) => describePackage(root, n));
  const target = join(root, 'dist', 'THIRD_PARTY_NOTICES.md');
  const temp = `${target}.${process.pid}.tmp`;
  writeFileSync(temp, renderNotices(entries));
  renameSync(temp, target);
  return entries.map((e) => e.name).sort();
}
