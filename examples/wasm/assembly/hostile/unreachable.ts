export { pluginAbort } from '../abort';

// Hostile: traps at once.
export function handle(): i32 {
  unreachable();
  return 0;
}
