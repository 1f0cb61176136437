// One real Kafka broker and one MongoDB-compatible server for the whole integration suite (or the
// servers named by KAFKA_BROKERS / MONGODB_URI). Workers find them through the environment.
// Plain JS importing the build: jest loads global setup outside its ESM transform (`npm test` builds first).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInfra } from '../dist/core/infra/infra.js';
import { INFRA_FILE } from '../dist/testing/infra-file.js';

export default async function globalSetup() {
  const stateDir = mkdtempSync(join(tmpdir(), 'changeflow-test-'));
  const started = Date.now();
  const state = await startInfra({ stateDir, onProgress: (line) => process.stderr.write(`[infra] ${line}\n`) });
  process.stderr.write(`\n[infra] kafka ${state.kafka}, mongodb ${state.mongodb}, redis ${state.redis ?? 'none'} (ready in ${Date.now() - started} ms)\n`);
  process.env.KAFKA_BROKERS = state.kafka;
  process.env.MONGODB_URI = state.mongodb;
  if (state.redis) process.env.REDIS_URL = state.redis;
  process.env.CHANGEFLOW_TEST_STATE_DIR = stateDir;
  writeFileSync(INFRA_FILE, JSON.stringify(state));
}
