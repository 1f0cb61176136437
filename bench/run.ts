/**
 * `npm run bench`: every stage in one run on the same servers, one table, results in
 * bench/results/<date>.json. Limit rows come from bench/limits.ts; changeflow rows from the modules
 * listed in STAGE_MODULES (each exports `stages: BenchStage[]`).
 */
import { stages as limitStages } from './limits.js';
import { runBench } from './lib/runner.js';
import type { BenchStage } from './lib/stage.js';

/**
 * Changeflow stages, one line per module: bench/<name>.ts exporting `stages: BenchStage[]` (and running
 * its own main only through `runIfMain(import.meta.url, stages)`, so importing it here runs nothing).
 */
const STAGE_MODULES: (() => Promise<{ stages: BenchStage[] }>)[] = [
  () => import('./source.js'),
  () => import('./processor.js'),
  () => import('./wasm.js'),
  () => import('./sinks.js'),
  () => import('./e2e.js'),
  () => import('./views.js'),
];

const changeflowStages = (await Promise.all(STAGE_MODULES.map((load) => load()))).flatMap((m) => m.stages);
await runBench([...limitStages, ...changeflowStages]);
