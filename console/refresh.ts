/**
 * Calls `load` now and every `everyMs`, handing each answer to `show`, until the returned stop function
 * is called: an answer that arrives after the page was left is dropped, as are its errors.
 */
export function refreshing<T>(load: () => Promise<T>, show: (value: T) => void, onError: (error: unknown) => void, everyMs: number): () => void {
  let stopped = false;
  const refresh = async (): Promise<void> => {
    try {
      const value = await load();
      if (!stopped) show(value);
    } catch (error) {
      if (!stopped) onError(error);
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), everyMs);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/**
 * A guard for a page's reads: an answer is used only when its read is the newest one. An earlier
 * read answering after a later one (the page's first read, overtaken by one with the filters typed
 * meanwhile) resolves to undefined, so a stale answer never draws over a newer one.
 */
export function newestOnly(): <T>(answer: Promise<T>) => Promise<T | undefined> {
  let reads = 0;
  return async <T>(answer: Promise<T>): Promise<T | undefined> => {
    const read = ++reads;
    const value = await answer;
    return read === reads ? value : undefined;
  };
}
