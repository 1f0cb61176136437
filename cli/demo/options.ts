import { z } from 'zod';
import { nameSchema } from '../../core/names.js';
import { parseOrThrow } from '../../core/schema-errors.js';
import { DEFAULT_DEMO_DB, demoDbSchema } from './config.js';

const whole = (flag: string, example: string) =>
  z.coerce.number({ error: `${flag}: expected a number, e.g. ${flag} ${example}` }).int({ error: `${flag}: a whole number, e.g. ${flag} ${example}` });
const portFlag = (flag: string, example: string) =>
  whole(flag, example)
    .min(1, { error: `${flag}: 1–65535` })
    .max(65535, { error: `${flag}: 1–65535` })
    .optional();

/** `changeflow dev` flags as commander hands them over (strings), checked and converted. */
export const devOptionsSchema = z.object({
  keepInfra: z.boolean().default(false),
  demo: z
    .enum(['users', 'chat'], { error: '--demo: users (the default: sync, cache and audit of demo.users) or chat (views over users and messages)' })
    .default('users'),
  generator: z.boolean().default(true),
  rate: z.coerce
    .number({ error: '--rate: expected writes per second, e.g. --rate 10' })
    .positive({ error: '--rate: more than 0 writes per second' })
    .max(5_000, { error: '--rate: at most 5000 writes per second' })
    .default(10),
  writes: whole('--writes', '500').positive({ error: '--writes: at least 1' }).optional(),
  initial: whole('--initial', '100').min(0, { error: '--initial: 0 or more documents' }).max(100_000, { error: '--initial: at most 100000' }).default(100),
  demoDb: demoDbSchema.default(DEFAULT_DEMO_DB),
  metadataDb: nameSchema.default('changeflow'),
  httpPort: portFlag('--http-port', '8080'),
  grpcPort: portFlag('--grpc-port', '50051'),
});
export type DevOptions = z.output<typeof devOptionsSchema>;

export function parseDevOptions(raw: unknown): DevOptions {
  return parseOrThrow(devOptionsSchema, raw, 'changeflow dev options');
}
