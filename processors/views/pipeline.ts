import { ValidationError } from '../../core/errors.js';
import { MatchFilterError } from '../match-filter.js';
import { ExpressionError } from './expression.js';
import { isPlainDocument } from '../bson-order.js';
import { compileDocumentStage, DOCUMENT_STAGES, type DocumentStage } from './document-stages.js';
import { compileLookup, type LookupSpec } from './lookup.js';
import { compileGroup, compileSort, type CompiledGroup, type SortSpec } from './group.js';

/**
 * A view's pipeline split where incremental maintenance needs it: the per-document stages before
 * `$group` (kept per source document), the group itself (with the `$sort` right before it, which
 * orders `$first`, `$last` and `$push`), and the per-row stages after it (run on each group's row).
 */
export interface CompiledPipeline {
  /** Per-document stages before `$lookup` (all of them when there is none): what is stored per source document. */
  before: DocumentStage[];
  lookup?: LookupSpec;
  /** Per-document stages between `$lookup` and `$group`. */
  afterLookup: DocumentStage[];
  sort?: SortSpec;
  group?: CompiledGroup;
  after: DocumentStage[];
}

export const SUPPORTED_STAGES: readonly string[] = [...DOCUMENT_STAGES, '$lookup', '$sort', '$group'];

/** A pipeline a view cannot keep; the message names the stage and its position. */
export class ViewPipelineError extends ValidationError {
  constructor(
    /** Path inside the pipeline (`[2].$group.n`). */
    readonly path: string,
    readonly reason: string,
    cause?: unknown,
  ) {
    super(`pipeline${path}: ${reason}`, { code: 'CONFIG_INVALID', ...(cause !== undefined ? { cause } : {}) });
  }
}

function stageName(stage: unknown, index: number): string {
  if (!isPlainDocument(stage)) throw new ViewPipelineError(`[${index}]`, 'a stage is a document with one key, e.g. { $match: {...} }');
  const keys = Object.keys(stage);
  if (keys.length !== 1) throw new ViewPipelineError(`[${index}]`, `a stage has exactly one key, got ${keys.length === 0 ? 'none' : keys.join(', ')}`);
  return keys[0] as string;
}

/** Compiles a pipeline; throws ViewPipelineError naming the first stage it refuses. */
export function compilePipeline(stages: readonly unknown[]): CompiledPipeline {
  const out: CompiledPipeline = { before: [], afterLookup: [], after: [] };
  stages.forEach((stage, index) => {
    const name = stageName(stage, index);
    const spec = (stage as Record<string, unknown>)[name];
    const where = `[${index}].${name}`;
    try {
      if (name === '$group') {
        if (out.group) throw new ViewPipelineError(where, 'only one $group per view is supported');
        out.group = compileGroup(spec, where);
        return;
      }
      if (name === '$sort') {
        const next = stages[index + 1];
        if (out.group || !isPlainDocument(next) || !Object.hasOwn(next, '$group'))
          throw new ViewPipelineError(where, '$sort is supported only right before $group (a view is a set of rows: it has no order)');
        out.sort = compileSort(spec, where);
        return;
      }
      if (name === '$lookup') {
        if (out.group) throw new ViewPipelineError(where, '$lookup after $group is not supported');
        if (out.lookup) throw new ViewPipelineError(where, 'only one $lookup per view is supported');
        out.lookup = compileLookup(spec, where);
        return;
      }
      if (out.group && name === '$unwind') throw new ViewPipelineError(where, '$unwind after $group is not supported (rows would share one _id)');
      const compiled = compileDocumentStage(name, spec, where);
      if (!compiled) throw new ViewPipelineError(where, `stage ${name} is not supported in views (supported: ${SUPPORTED_STAGES.join(' ')})`);
      (out.group ? out.after : out.lookup ? out.afterLookup : out.before).push(compiled);
    } catch (error) {
      if (error instanceof ViewPipelineError) throw error;
      if (error instanceof ExpressionError) throw new ViewPipelineError(error.path, error.reason, error);
      if (error instanceof MatchFilterError) throw new ViewPipelineError(error.path === '' ? where : `${where}.${error.path}`, error.reason, error);
      throw error;
    }
  });
  return out;
}

/** The problem with a pipeline, or undefined when a view can keep it (for config checks). */
export function pipelineProblem(stages: readonly unknown[]): ViewPipelineError | undefined {
  try {
    compilePipeline(stages);
    return undefined;
  } catch (error) {
    if (error instanceof ViewPipelineError) return error;
    throw error;
  }
}
