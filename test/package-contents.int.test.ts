import { execFileSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';

interface PackEntry {
  files: { path: string }[];
}

/**
 * What `npm publish` would ship, read from `npm pack --dry-run` over the built dist/. Test helpers
 * (testing/) and benches are compiled, because benches and crash tests run them as JavaScript, but
 * they are not part of the package.
 */
function packedPaths(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const [entry] = JSON.parse(out) as PackEntry[];
  return (entry?.files ?? []).map((f) => f.path);
}

describe('the published package', () => {
  const paths = packedPaths();

  it('carries the CLI, the service and its schemas', () => {
    expect(paths).toContain('bin/changeflow.js');
    expect(paths).toContain('dist/cli/main.js');
    expect(paths.some((p) => p.startsWith('dist/app/'))).toBe(true);
    expect(paths.some((p) => p.startsWith('schemas/') && p.endsWith('.proto'))).toBe(true);
  });

  it('carries the web console, built: its page, scripts and style (served at /console/)', () => {
    for (const file of ['index.html', 'style.css', 'app.js', 'api.js', 'dom.js', 'pipeline-page.js', 'triggers-page.js', 'dead-letters-page.js'])
      expect(paths).toContain(`dist/console/${file}`);
    expect(paths.filter((p) => p.startsWith('console/'))).toEqual([]);
  });

  it('leaves out test helpers, benches and tests', () => {
    const leaked = paths.filter((p) => /^dist\/(testing|bench|test)\//.test(p) || /\.test\.js$/.test(p) || /(^|\/)fixtures\//.test(p));
    expect(leaked).toEqual([]);
  });
});
