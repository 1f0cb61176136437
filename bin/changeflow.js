#!/usr/bin/env node
// Entry point of `npx changeflow`: runs the compiled CLI (npm install builds it via `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('changeflow is not built yet: run `npm install` (or `npm run build`) in the changeflow folder first.');
  process.exit(1);
}
const { runCli } = await import(main);
await runCli(process.argv);
