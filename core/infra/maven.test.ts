import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publishResolved } from './maven.js';

describe('publishResolved', () => {
  let root: string;
  const folder = (name: string, jar: string, complete: boolean): string => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'scala-library.jar'), jar);
    if (complete) writeFileSync(join(dir, '.complete'), 'done');
    return dir;
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'cf-jars-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('moves the finished resolution into place', () => {
    const staging = folder('jars.tmp-1', 'ours', true);
    expect(publishResolved(staging, join(root, 'jars'))).toBe('published');
    expect(readFileSync(join(root, 'jars', 'scala-library.jar'), 'utf8')).toBe('ours');
    expect(existsSync(staging)).toBe(false);
  });

  it("keeps another process's finished copy, which may be serving a starting JVM, and drops ours", () => {
    const theirs = folder('jars', 'theirs', true);
    const staging = folder('jars.tmp-2', 'ours', true);
    expect(publishResolved(staging, theirs)).toBe('kept-theirs');
    expect(readFileSync(join(theirs, 'scala-library.jar'), 'utf8')).toBe('theirs');
    expect(existsSync(staging)).toBe(false);
  });

  it('replaces a half-written copy an interrupted run left (no .complete)', () => {
    const broken = folder('jars', 'half', false);
    const staging = folder('jars.tmp-3', 'ours', true);
    expect(publishResolved(staging, broken)).toBe('published');
    expect(readFileSync(join(broken, 'scala-library.jar'), 'utf8')).toBe('ours');
  });
});
