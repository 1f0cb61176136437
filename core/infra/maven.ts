import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChangeflowError } from '../errors.js';
import { cacheDir, packageRoot } from './paths.js';
import { requireJava, requireMaven } from './prerequisites.js';

export interface ResolvedJars {
  /** Folder holding every jar; use `<dir>/*` as the Java classpath. */
  dir: string;
  classpath: string;
  /** Folder of the pom, log4j config and the Java launcher sources. */
  infraDir: string;
  fromCache: boolean;
}

function infraSourceDir(): string {
  return join(packageRoot(), 'infra');
}

/**
 * Resolves the jars named in infra/pom.xml from Maven Central into the cache, once per pom version
 * (the folder name carries a hash of the pom, so a version bump resolves anew).
 */
export async function resolveJars(onProgress?: (line: string) => void): Promise<ResolvedJars> {
  requireJava();
  const infraDir = infraSourceDir();
  const pom = join(infraDir, 'pom.xml');
  const hash = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 12);
  const dir = join(cacheDir(), `jars-${hash}`);
  const done = join(dir, '.complete');
  if (existsSync(done)) return { dir, classpath: `${dir}/*`, infraDir, fromCache: true };

  requireMaven();
  mkdirSync(cacheDir(), { recursive: true });
  const staging = `${dir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  onProgress?.(`Resolving Kafka and mongo-java-server jars with Maven into ${dir} (first run only)…`);
  const output: string[] = [];
  const code = await new Promise<number>((resolve) => {
    const child = spawn('mvn', ['-B', '-q', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`, '-DincludeScope=runtime'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
    child.on('error', () => resolve(-1));
    child.on('exit', (c) => resolve(c ?? -1));
  });
  if (code !== 0 || !existsSync(staging) || readdirSync(staging).length === 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new ChangeflowError(`Maven could not resolve the infrastructure jars (exit ${code}). Maven said:\n${output.join('').slice(-4000)}`, {
      code: 'MAVEN_FAILED',
      retriable: true,
    });
  }
  writeFileSync(join(staging, '.complete'), new Date().toISOString());
  const published = publishResolved(staging, dir);
  return { dir, classpath: `${dir}/*`, infraDir, fromCache: published === 'kept-theirs' };
}

/**
 * Moves a finished resolution (`staging`, holding `.complete`) to `dir`, unless another process (a
 * second test run, `changeflow dev` beside `npm test`) finished first: that copy may be serving a
 * starting JVM right now, and deleting it loses classes under it (NoClassDefFoundError), so ours goes.
 */
export function publishResolved(staging: string, dir: string): 'published' | 'kept-theirs' {
  if (existsSync(join(dir, '.complete'))) {
    rmSync(staging, { recursive: true, force: true });
    return 'kept-theirs';
  }
  // A folder without `.complete` is a copy an interrupted run left half-written.
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  try {
    renameSync(staging, dir);
  } catch {
    // Another process published in between; its copy is as good as ours.
    rmSync(staging, { recursive: true, force: true });
    return 'kept-theirs';
  }
  return 'published';
}
