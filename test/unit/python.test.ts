import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { findPython, runtimeEnv } from '../../src/core/runtime';

describe('runtime/python: findPython', () => {
  const cwd = '/ws';
  const venv = path.join(cwd, '.venv', 'bin', 'python');
  const everything = { exists: () => true, env: { SPIKE_STUDIO_PYTHON: '/env/python' }, platform: 'linux' as const };

  it('extension: setting → Python extension → python3', () => {
    assert.deepEqual(findPython({ ...everything, cwd, configured: '/opt/py', pythonExtension: '/ext/py' }), { path: '/opt/py', source: 'setting' });
    assert.deepEqual(findPython({ ...everything, cwd, configured: '  ', pythonExtension: '/ext/py' }), { path: '/ext/py', source: 'python-extension' });
    assert.deepEqual(findPython({ ...everything, cwd, configured: null, pythonExtension: undefined }), { path: 'python3', source: 'default' });
  });

  it('cli: --python → $SPIKE_STUDIO_PYTHON → ./.venv/bin/python → python3', () => {
    const cli = { ...everything, cwd, mode: 'cli' as const };
    assert.deepEqual(findPython({ ...cli, configured: 'py/bin/python' }), { path: '/ws/py/bin/python', source: 'flag' });
    assert.deepEqual(findPython(cli), { path: '/env/python', source: 'env' });
    assert.deepEqual(findPython({ ...cli, env: {} }), { path: venv, source: 'venv' });
    assert.deepEqual(findPython({ ...cli, env: {}, exists: () => false }), { path: 'python3', source: 'default' });
  });

  it('keeps bare command names, resolves relative paths', () => {
    assert.equal(findPython({ cwd, configured: 'python3.11' }).path, 'python3.11');
    assert.equal(findPython({ cwd, configured: './v/bin/python' }).path, '/ws/v/bin/python');
  });

  it('runtimeEnv prepends PYTHONPATH and sets PYTHONUNBUFFERED', () => {
    const env = runtimeEnv('/rt', { PYTHONPATH: '/other', HOME: '/h' });
    assert.equal(env.PYTHONPATH, `/rt${path.delimiter}/other`);
    assert.equal(env.PYTHONUNBUFFERED, '1');
    assert.equal(env.HOME, '/h');
    assert.equal(runtimeEnv('/rt', {}).PYTHONPATH, '/rt');
  });
});
