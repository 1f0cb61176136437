import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Written by the jest global setup so that any process of the test run can find the shared servers. */
export const INFRA_FILE = join(tmpdir(), 'changeflow-test-infra.json');
