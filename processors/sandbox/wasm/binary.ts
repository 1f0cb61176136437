import { ChangeflowError } from '../../../core/errors.js';

/**
 * A minimal reader of the WebAssembly binary format: only the sections the host must inspect before it
 * runs a tenant's module (imports, exports, memories), plus rewriting the memory's maximum. Callers run
 * WebAssembly.validate first; this reader still bounds every read, since the bytes are hostile.
 */

export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

export interface WasmImport {
  module: string;
  name: string;
  kind: ExternKind;
}

export interface WasmExport {
  name: string;
  kind: ExternKind;
}

/** One memory defined by the module (not imported), with where its limits sit in the bytes. */
export interface MemoryDefinition {
  minPages: number;
  maxPages: number | undefined;
  shared: boolean;
  memory64: boolean;
}

export interface ModuleLayout {
  imports: WasmImport[];
  exports: WasmExport[];
  memories: MemoryDefinition[];
  /** Where the memory section sits: `header` = its id byte, `start`..`end` = its payload. */
  memorySection: { header: number; start: number; end: number } | undefined;
}

export class WasmFormatError extends ChangeflowError {
  constructor(message: string) {
    super(message, { code: 'WASM_FORMAT' });
  }
}

const KINDS: readonly ExternKind[] = ['function', 'table', 'memory', 'global', 'tag'];
const SECTION_IMPORT = 2;
const SECTION_MEMORY = 5;
const SECTION_EXPORT = 7;
export const PAGE_BYTES = 64 * 1024;

class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  byte(): number {
    if (this.pos >= this.end) throw new WasmFormatError('unexpected end of the module');
    return this.bytes[this.pos++] as number;
  }

  /** Unsigned LEB128 up to 2^53 (memory64 limits included). */
  uleb(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new WasmFormatError('malformed LEB128 number');
  }

  name(): string {
    const length = this.uleb();
    if (this.pos + length > this.end) throw new WasmFormatError('a name runs past its section');
    const text = new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(this.pos, this.pos + length));
    this.pos += length;
    return text;
  }

  limits(): MemoryDefinition {
    const flags = this.byte();
    const minPages = this.uleb();
    const maxPages = flags & 0x01 ? this.uleb() : undefined;
    return { minPages, maxPages, shared: (flags & 0x02) !== 0, memory64: (flags & 0x04) !== 0 };
  }
}

function kindOf(code: number): ExternKind {
  const kind = KINDS[code];
  if (kind === undefined) throw new WasmFormatError(`unknown import/export kind ${code}`);
  return kind;
}

function readImports(r: Reader, imports: WasmImport[]): void {
  const count = r.uleb();
  for (let i = 0; i < count; i++) {
    const module = r.name();
    const name = r.name();
    const kind = kindOf(r.byte());
    imports.push({ module, name, kind });
    if (kind === 'function') r.uleb();
    else if (kind === 'table') {
      r.byte();
      r.limits();
    } else if (kind === 'memory') r.limits();
    else if (kind === 'global') {
      r.byte();
      r.byte();
    } else {
      r.byte();
      r.uleb();
    }
  }
}

/** Reads the header and the import, memory and export sections; other sections are skipped. */
export function readModuleLayout(bytes: Uint8Array): ModuleLayout {
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new WasmFormatError('not a WebAssembly module (no \\0asm header)');
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw new WasmFormatError('not a WebAssembly core module of version 1');
  const layout: ModuleLayout = { imports: [], exports: [], memories: [], memorySection: undefined };
  const top = new Reader(bytes, 8, bytes.length);
  while (top.pos < top.end) {
    const header = top.pos;
    const id = top.byte();
    const size = top.uleb();
    const start = top.pos;
    const end = start + size;
    if (end > bytes.length) throw new WasmFormatError(`section ${id} runs past the end of the module`);
    const r = new Reader(bytes, start, end);
    if (id === SECTION_IMPORT) readImports(r, layout.imports);
    else if (id === SECTION_MEMORY) {
      layout.memorySection = { header, start, end };
      const count = r.uleb();
      for (let i = 0; i < count; i++) layout.memories.push(r.limits());
    } else if (id === SECTION_EXPORT) {
      const count = r.uleb();
      for (let i = 0; i < count; i++) {
        const name = r.name();
        const kind = kindOf(r.byte());
        r.uleb();
        layout.exports.push({ name, kind });
      }
    }
    top.pos = end;
  }
  return layout;
}

function uleb(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    let b = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) b |= 0x80;
    out.push(b);
  } while (rest > 0);
  return out;
}

/**
 * The module with its one memory's maximum lowered to `maxPages` (memory.grow beyond it then returns
 * -1 inside the module, which is how linear memory is capped: the JS host has no other hook).
 * Expects a layout from readModuleLayout with exactly one defined memory, not shared, 32-bit.
 */
export function withMemoryMaximum(bytes: Uint8Array, layout: ModuleLayout, maxPages: number): Uint8Array {
  const section = layout.memorySection;
  const memory = layout.memories[0];
  if (!section || !memory || layout.memories.length !== 1) throw new WasmFormatError('the module must define exactly one memory');
  const max = Math.min(memory.maxPages ?? maxPages, maxPages);
  const payload = [...uleb(1), 0x01, ...uleb(memory.minPages), ...uleb(max)];
  const headerStart = section.header;
  const header = [SECTION_MEMORY, ...uleb(payload.length)];
  const out = new Uint8Array(headerStart + header.length + payload.length + (bytes.length - section.end));
  out.set(bytes.subarray(0, headerStart), 0);
  out.set(header, headerStart);
  out.set(payload, headerStart + header.length);
  out.set(bytes.subarray(section.end), headerStart + header.length + payload.length);
  return out;
}
