import type { ChangeStream, Document } from 'mongodb';

/** Pause after an empty read before asking again, ms: small next to what is measured, enough not to spin. */
const EMPTY_READ_PAUSE_MS = 2;

/**
 * Reads a change stream in a loop and hands each change to `onChange`. Not the driver's 'change'
 * events: those ask again the moment a read comes back empty, and mongo-java-server answers an empty
 * read at once (it ignores maxAwaitTimeMS), so an idle stream spins, costing a core split between this
 * process and the server (measured: ~30% of a core for one idle stream) while the benchmark runs.
 */
export function followChanges(
  stream: ChangeStream,
  onChange: (change: Document, receivedAt: number) => void,
  onError: (error: unknown) => void,
): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      let change: Document | null;
      try {
        change = await stream.tryNext();
      } catch (error) {
        if (!stopped) onError(error);
        return;
      }
      if (change) onChange(change, performance.now());
      else await new Promise((resolve) => setTimeout(resolve, EMPTY_READ_PAUSE_MS));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await stream.close().catch(() => undefined);
      await loop;
    },
  };
}
