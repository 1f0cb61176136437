import { newQuickJSWASMModule, RELEASE_SYNC, type QuickJSWASMModule } from 'quickjs-emscripten';
import { decodeBjson, encodeBjson } from './bjson.js';

/**
 * One QuickJS WebAssembly module (release build, synchronous) shared by all sandboxes of the process.
 * Each sandbox gets its own runtime, so memory limits and interrupts stay per function.
 * Loaded with top-level await so compileCheck and the FunctionSandbox constructor can stay synchronous.
 */
export const quickjs: QuickJSWASMModule = await newQuickJSWASMModule(RELEASE_SYNC);

const PROBE = {
  t: 'probe',
  n: 1.5,
  e: [{ a: 1, '5': [true, false, null, -7, 2147483647, -2147483648, 1e300], s: 'x'.repeat(40), w: 'é€ü', __proto__x: {} }, [], ''],
};

/**
 * Returns QuickJS's binary-object format version if our host codec round-trips it exactly, else undefined
 * (the sandbox then marshals through JSON strings). Guards against a QuickJS upgrade changing the format.
 */
function probeBinaryFormat(): number | undefined {
  const runtime = quickjs.newRuntime();
  const vm = runtime.newContext();
  try {
    const nullBytes = vm.encodeBinaryJSON(vm.null);
    let version: number | undefined;
    try {
      const view = vm.getArrayBuffer(nullBytes);
      version = view.value[0];
      view.dispose();
    } finally {
      nullBytes.dispose();
    }
    if (version === undefined) return undefined;
    const expected = JSON.stringify(PROBE);
    const ab = vm.newArrayBuffer(encodeBjson(PROBE, version).buffer);
    const decoded = vm.decodeBinaryJSON(ab);
    ab.dispose();
    const json = vm.getProp(vm.global, 'JSON').consume((j) => vm.getProp(j, 'stringify'));
    const str = vm.callFunction(json, vm.undefined, decoded);
    json.dispose();
    const inVm = str.error ? undefined : vm.getString(str.value);
    (str.error ?? str.value).dispose();
    if (inVm !== expected) {
      decoded.dispose();
      return undefined;
    }
    const back = vm.encodeBinaryJSON(decoded);
    decoded.dispose();
    const view = vm.getArrayBuffer(back);
    const host = JSON.stringify(decodeBjson(view.value, version, 'probe'));
    view.dispose();
    back.dispose();
    return host === expected ? version : undefined;
  } catch {
    return undefined;
  } finally {
    vm.dispose();
    runtime.dispose();
  }
}

/** QuickJS binary-object format version, or undefined when only JSON marshalling is safe. */
export const binaryFormatVersion: number | undefined = probeBinaryFormat();
