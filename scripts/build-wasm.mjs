#!/usr/bin/env node
// Builds the example and test WebAssembly functions from source with npm-installed tools only
// (the AssemblyScript compiler with Extism's AssemblyScript PDK, and wabt for the hand-written WAT).
// Output: examples/wasm/build/*.wasm, committed so tests and `npm test` need no compiler.
// Usage: npm run build:wasm
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';
import wabtInit from 'wabt';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'wasm');
const out = join(root, 'build');
mkdirSync(out, { recursive: true });

const assemblyScript = {
  passthrough: 'assembly/passthrough.ts',
  'filter-enrich': 'assembly/filter-enrich.ts',
  'redis-cache': 'assembly/redis-cache.ts',
  'bench-trivial': 'assembly/bench-trivial.ts',
  'hostile-spin': 'assembly/hostile/spin.ts',
  'hostile-grow': 'assembly/hostile/grow.ts',
  'hostile-unreachable': 'assembly/hostile/unreachable.ts',
};

for (const [name, source] of Object.entries(assemblyScript)) {
  const file = join(root, source);
  // `--use abort=` routes AssemblyScript's abort to the plugin's own (no `env.abort` import);
  // --runtime incremental: a real GC, so long batches do not exhaust memory.
  const { error, stderr } = await asc.main([
    relative(process.cwd(), file),
    '--outFile',
    join(out, `${name}.wasm`),
    '--optimize',
    '--runtime',
    'incremental',
    '--exportRuntime',
    '--noAssert',
    '--use',
    `abort=${relative(process.cwd(), join(root, 'assembly', 'abort')).replaceAll('\\', '/')}/pluginAbort`,
  ]);
  if (error) {
    process.stderr.write(stderr.toString());
    throw error;
  }
  console.log(`built ${name}.wasm from ${source}`);
}

const wabt = await wabtInit();
const hand = { 'wat-echo': 'wat/echo.wat', 'hostile-huge-output': 'wat/huge-output.wat' };
for (const [name, file] of Object.entries(hand)) {
  const source = join(root, file);
  const module = wabt.parseWat(source, readFileSync(source, 'utf8'));
  module.validate();
  writeFileSync(join(out, `${name}.wasm`), module.toBinary({}).buffer);
  module.destroy();
  console.log(`assembled ${name}.wasm from ${file}`);
}
