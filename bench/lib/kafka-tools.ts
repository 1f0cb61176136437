import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { resolveJars } from '../../core/infra/maven.js';

/** Runs one of Kafka's own tools (org.apache.kafka.tools.*) from the jars the local broker uses. */
export async function runKafkaTool(mainClass: string, args: string[], timeoutMs: number): Promise<string> {
  const jars = await resolveJars();
  const javaArgs = ['-Xmx768m', `-Dlog4j2.configurationFile=${join(jars.infraDir, 'log4j2.properties')}`, '-cp', jars.classpath, mainClass, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('java', javaArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${mainClass} exited with ${code ?? 'a signal'}:\n${out.slice(-2000)}`));
    });
  });
}

export interface ProducerPerfResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** Parses ProducerPerformance's summary line ("N records sent, X records/sec (Y MB/sec), … P50 ms 50th, … P99 ms 99th, …"). */
export function parseProducerPerf(output: string): ProducerPerfResult {
  const m = /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\).*?(\d+) ms 50th, \d+ ms 95th, (\d+) ms 99th/.exec(output);
  if (!m) throw new Error(`ProducerPerformance printed no summary:\n${output.slice(-1500)}`);
  return { records: Number(m[1]), recordsPerSec: Number(m[2]), mbPerSec: Number(m[3]), p50Ms: Number(m[4]), p99Ms: Number(m[5]) };
}

export interface ConsumerPerfResult {
  messages: number;
  fetchMs: number;
  mb: number;
}

/** Parses ConsumerPerformance's CSV line; the fetch columns leave out the group join. */
export function parseConsumerPerf(output: string): ConsumerPerfResult {
  const lines = output.split('\n');
  const headerAt = lines.findIndex((l) => l.startsWith('start.time'));
  const header = lines[headerAt]?.split(',').map((h) => h.trim());
  const values = lines[headerAt + 1]?.split(',').map((v) => v.trim());
  if (!header || !values) throw new Error(`ConsumerPerformance printed no result:\n${output.slice(-1500)}`);
  const col = (name: string): number => Number(values[header.indexOf(name)]);
  return { messages: col('data.consumed.in.nMsg'), fetchMs: col('fetch.time.ms'), mb: col('data.consumed.in.MB') };
}
