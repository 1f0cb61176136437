import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from './config.js';
import { ValidationError } from '../core/errors.js';
import { definitionsFromConfig } from '../processors/definitions.js';
import { checkConfigFunctions } from '../processors/check-functions.js';

const built = (name: string): string => fileURLToPath(new URL(`../examples/wasm/build/${name}.wasm`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cf-wasm-config-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(functions: string): string {
  const path = join(dir, 'changeflow.yaml');
  writeFileSync(
    path,
    `kafka: { brokers: ["127.0.0.1:9092"] }\nfunctions:\n${functions}triggers:\n  - name: t\n    source: { db: shop, coll: orders }\n    function: f\n    sinks: [{ name: out, kind: audit }]\n`,
  );
  return path;
}

function errorOf(path: string): string {
  try {
    loadConfigFile(path, {});
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('changeflow.yaml functions with wasm:', () => {
  it('reads the module relative to the config file and hands its bytes to the trigger', () => {
    copyFileSync(built('passthrough'), join(dir, 'sync.wasm'));
    const config = loadConfigFile(write('  - { name: f, wasm: ./sync.wasm, limits: { memoryMiB: 16, timeoutMs: 200 } }\n'), {});
    const [definition] = definitionsFromConfig(config);
    expect(definition?.functionCode).toMatchObject({ name: 'f', memoryMiB: 16, timeoutMs: 200 });
    expect(Buffer.from(definition?.functionCode?.wasmBase64 ?? '', 'base64')).toEqual(readFileSync(built('passthrough')));
  });

  it('refuses more than one of code, file and wasm', () => {
    expect(errorOf(write('  - { name: f, code: "export default () => []", wasm: ./sync.wasm }\n'))).toMatch(/give exactly one of code, file or wasm/);
  });

  it('refuses at load a file that cannot be read, is not WebAssembly, or lacks handle, naming the problem', () => {
    expect(errorOf(write('  - { name: f, wasm: ./missing.wasm }\n'))).toMatch(/functions\[0\]\.wasm: cannot read .*missing\.wasm/);
    writeFileSync(join(dir, 'text.wasm'), 'export default () => []');
    expect(errorOf(write('  - { name: f, wasm: text.wasm }\n'))).toMatch(/functions\[0\]\.wasm: .*text\.wasm: not a WebAssembly module/);
    writeFileSync(join(dir, 'empty.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    expect(errorOf(write('  - { name: f, wasm: empty.wasm }\n'))).toMatch(/exports no function "handle"/);
  });

  it('run --check instantiates each module in a worker, within its limits', async () => {
    copyFileSync(built('wat-echo'), join(dir, 'echo.wasm'));
    const config = loadConfigFile(write('  - { name: f, wasm: ./echo.wasm }\n'), {});
    expect(await checkConfigFunctions(config.functions)).toEqual([]);
  });
});
