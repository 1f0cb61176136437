export { pluginAbort } from '../abort';

// Hostile: allocates 1 MiB buffers and keeps them until memory runs out (capped by memoryMiB).
const kept: ArrayBuffer[] = [];
export function handle(): i32 {
  while (true) kept.push(new ArrayBuffer(1024 * 1024));
  return 0;
}
