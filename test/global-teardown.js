import { rmSync } from 'node:fs';
import { stopInfra } from '../dist/core/infra/infra.js';
import { INFRA_FILE } from '../dist/testing/infra-file.js';

export default async function globalTeardown() {
  const stateDir = process.env.CHANGEFLOW_TEST_STATE_DIR;
  if (!stateDir) return;
  await stopInfra({ stateDir, graceMs: 0 });
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(INFRA_FILE, { force: true });
}
