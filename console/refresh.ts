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
