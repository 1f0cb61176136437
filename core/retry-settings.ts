import { z } from 'zod';

/** The retry knobs users write (a trigger's `retry`, the HTTP sink's `retry`); `attempts` counts the first. */
export const retrySettingsSchema = z
  .strictObject({
    attempts: z.number().int().positive().default(5).meta({ description: 'Tries in all, the first included.' }),
    initialDelayMs: z.number().int().positive().default(200).meta({ description: 'Wait before the second try; it doubles (with jitter) up to `maxDelayMs`.' }),
    maxDelayMs: z.number().int().positive().default(10_000).meta({ description: 'Longest wait between tries.' }),
  })
  .default({ attempts: 5, initialDelayMs: 200, maxDelayMs: 10_000 });

export type RetrySettings = z.output<typeof retrySettingsSchema>;
