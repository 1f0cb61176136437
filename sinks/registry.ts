import { auditSinkKind } from './audit.js';
import { httpSinkKind } from './http.js';
import { kafkaSinkKind } from './kafka.js';
import { mongodbSinkKind } from './mongodb.js';
import { redisSinkKind } from './redis.js';
import type { SinkKind } from './sink.js';

/** Every sink kind, one line each. */
export const sinkKinds: readonly SinkKind[] = [mongodbSinkKind, redisSinkKind, auditSinkKind, kafkaSinkKind, httpSinkKind];

export function findSinkKind(kind: string): SinkKind | undefined {
  return sinkKinds.find((k) => k.kind === kind);
}
