import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MissingPrerequisiteError } from '../errors.js';

/** Folder of the changeflow package (found by walking up to its package.json; works from dist/ and sources). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'changeflow') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new MissingPrerequisiteError('changeflow: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** Cache for resolved jars: `$CHANGEFLOW_CACHE_DIR`, else `$XDG_CACHE_HOME/changeflow`, else `~/.cache/changeflow`. */
export function cacheDir(): string {
  return process.env['CHANGEFLOW_CACHE_DIR'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'changeflow');
}

/** Where `infra start` keeps its state file, logs and data: `$CHANGEFLOW_STATE_DIR`, else `<cache>/infra`. */
export function defaultStateDir(): string {
  return process.env['CHANGEFLOW_STATE_DIR'] ?? join(cacheDir(), 'infra');
}
