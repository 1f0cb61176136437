import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten';

/** Script name of the sandbox's own prelude; its frames are hidden from users. */
export const PRELUDE_FILE = '<sandbox>';
const MAX_STACK_LINES = 8;

export interface VmErrorInfo {
  name: string;
  message: string;
  line?: number;
  column?: number;
  stack?: string;
}

function stringProp(vm: QuickJSContext, obj: QuickJSHandle, key: string): string | undefined {
  const h = vm.getProp(obj, key);
  try {
    return vm.typeof(h) === 'string' ? vm.getString(h) : undefined;
  } finally {
    h.dispose();
  }
}

function numberProp(vm: QuickJSContext, obj: QuickJSHandle, key: string): number | undefined {
  const h = vm.getProp(obj, key);
  try {
    return vm.typeof(h) === 'number' ? vm.getNumber(h) : undefined;
  } finally {
    h.dispose();
  }
}

function safeDump(vm: QuickJSContext, h: QuickJSHandle): string {
  try {
    const v: unknown = vm.dump(h);
    return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    return 'unknown error';
  }
}

/** Reads an exception value out of the VM (does not dispose it). Line/column come from the first frame in `fileName`. */
export function readVmError(vm: QuickJSContext, error: QuickJSHandle, fileName: string): VmErrorInfo {
  if (vm.typeof(error) !== 'object') return { name: 'Error', message: `uncaught ${safeDump(vm, error)}` };
  const name = stringProp(vm, error, 'name') ?? 'Error';
  const message = stringProp(vm, error, 'message') ?? safeDump(vm, error);
  const rawStack = stringProp(vm, error, 'stack') ?? '';
  const lines = rawStack.split('\n').filter((l) => l.trim() !== '' && !l.includes(PRELUDE_FILE));
  const info: VmErrorInfo = { name, message };
  const marker = `${fileName}:`;
  for (const l of lines) {
    if (!l.includes(marker)) continue;
    const m = /:(\d+):(\d+)\)?\s*$/.exec(l);
    if (m) {
      info.line = Number(m[1]);
      info.column = Number(m[2]);
      break;
    }
  }
  if (info.line === undefined) {
    const line = numberProp(vm, error, 'lineNumber');
    if (line !== undefined) info.line = line;
  }
  if (lines.length > 0) {
    const shown = lines.slice(0, MAX_STACK_LINES);
    if (lines.length > MAX_STACK_LINES) shown.push(`    ... ${lines.length - MAX_STACK_LINES} more frames`);
    info.stack = shown.join('\n');
  }
  return info;
}
