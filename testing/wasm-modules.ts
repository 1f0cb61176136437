import { readFileSync } from 'node:fs';

/** The built example and hostile modules (examples/wasm/build/, made by `npm run build:wasm`), for tests and the bench. */
export type ExampleModule =
  | 'passthrough'
  | 'filter-enrich'
  | 'redis-cache'
  | 'bench-trivial'
  | 'hostile-spin'
  | 'hostile-grow'
  | 'hostile-unreachable'
  | 'hostile-huge-output'
  | 'wat-echo';

/** Also from dist/ (the bench): the modules are not copied there, so resolve beside the sources. */
const here = import.meta.url.replace('/dist/', '/');

export function exampleModule(name: ExampleModule): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`../examples/wasm/build/${name}.wasm`, here)));
}
