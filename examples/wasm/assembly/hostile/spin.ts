export { pluginAbort } from '../abort';

// Hostile: never returns (the host must stop it within 2x its time limit and keep answering).
let counter: i64 = 0;
export function handle(): i32 {
  while (true) counter++;
  return 0;
}
