import { canonicalText } from '../../schemas/ejson.js';
import { compareValues, isNumeric, isPlainDocument, numberOf } from '../bson-order.js';
import { compileExpression, ExpressionError, type Expression } from './expression.js';
import type { Document } from './document-stages.js';

/**
 * `$group` kept incrementally: each group holds its members (the pre-group rows of the source
 * documents that fall into it, by member id). `$sum`, `$count` and `$avg` keep running totals, so a
 * member coming or going costs O(1); `$min`, `$max`, `$push`, `$addToSet`, `$first` and `$last` fold
 * the touched group's members again (O(group size), in memory, no read of the source) — except that
 * `$min`/`$max` keep their current extreme and fold again only when the member holding it leaves.
 */
export const ACCUMULATORS = ['$sum', '$count', '$avg', '$min', '$max', '$first', '$last', '$push', '$addToSet'] as const;
type AccumulatorName = (typeof ACCUMULATORS)[number];

interface Accumulator {
  field: string;
  op: AccumulatorName;
  input: Expression;
}

/** One pre-group row as a group member: the values the accumulators read, and its sort key. */
export interface Member {
  inputs: unknown[];
  sortKey: unknown[];
}

export interface SortSpec {
  fields: { path: Expression; direction: 1 | -1 }[];
}

export interface CompiledGroup {
  key: Expression;
  accumulators: Accumulator[];
}

export function compileGroup(spec: unknown, where: string): CompiledGroup {
  if (!isPlainDocument(spec) || !Object.hasOwn(spec, '_id'))
    throw new ExpressionError(where, '$group takes { _id: <expression>, <field>: { <accumulator>: <expression> } }');
  const accumulators: Accumulator[] = [];
  for (const [field, raw] of Object.entries(spec)) {
    if (field === '_id') continue;
    const path = `${where}.${field}`;
    if (field.includes('.') || field.startsWith('$')) throw new ExpressionError(path, 'a $group field name may not contain "." or start with "$"');
    const keys = isPlainDocument(raw) ? Object.keys(raw) : [];
    const op = keys[0];
    if (keys.length !== 1 || op === undefined || !(ACCUMULATORS as readonly string[]).includes(op))
      throw new ExpressionError(path, `expected one accumulator (${ACCUMULATORS.join(' ')}), got ${JSON.stringify(raw)}`);
    const argument = (raw as Document)[op];
    if (op === '$count') {
      if (!isPlainDocument(argument) || Object.keys(argument).length > 0) throw new ExpressionError(`${path}.$count`, '$count takes {}');
      accumulators.push({ field, op, input: () => 1 });
    } else accumulators.push({ field, op: op as AccumulatorName, input: compileExpression(argument, `${path}.${op}`) });
  }
  return { key: compileExpression(spec['_id'], `${where}._id`), accumulators };
}

export function compileSort(spec: unknown, where: string): SortSpec {
  if (!isPlainDocument(spec) || Object.keys(spec).length === 0) throw new ExpressionError(where, '$sort takes { <field>: 1 | -1 }');
  return {
    fields: Object.entries(spec).map(([field, direction]) => {
      if (direction !== 1 && direction !== -1) throw new ExpressionError(`${where}.${field}`, 'a sort direction is 1 or -1');
      return { path: compileExpression(`$${field}`, `${where}.${field}`), direction };
    }),
  };
}

function isSummable(value: unknown): boolean {
  return isNumeric(value);
}

/** The members and running totals of one group. */
export class GroupState {
  readonly members = new Map<string, Member>();
  private readonly totals: number[];
  private readonly numericCounts: number[];
  /** Totals that must be summed again (a non-integer left them: subtraction would drift). */
  private stale = false;
  /** `$min`/`$max`: the current extreme (undefined: none yet), valid until the member holding it leaves. */
  private readonly extremes: unknown[];
  private readonly extremeValid: boolean[];

  constructor(
    readonly key: unknown,
    private readonly spec: CompiledGroup,
  ) {
    this.totals = spec.accumulators.map(() => 0);
    this.numericCounts = spec.accumulators.map(() => 0);
    this.extremes = spec.accumulators.map(() => undefined);
    this.extremeValid = spec.accumulators.map(() => true);
  }

  private better(op: AccumulatorName, value: unknown, best: unknown): boolean {
    if (value === undefined || value === null) return false;
    return best === undefined || (op === '$min' ? compareValues(value, best) < 0 : compareValues(value, best) > 0);
  }

  add(id: string, member: Member): void {
    this.members.set(id, member);
    this.count(member, 1);
  }

  remove(id: string): void {
    const member = this.members.get(id);
    if (!member) return;
    this.members.delete(id);
    this.count(member, -1);
  }

  private count(member: Member, sign: 1 | -1): void {
    this.spec.accumulators.forEach((acc, i) => {
      if (acc.op === '$min' || acc.op === '$max') {
        const value = member.inputs[i];
        if (sign > 0 && this.extremeValid[i] && this.better(acc.op, value, this.extremes[i])) this.extremes[i] = value;
        else if (sign < 0 && value !== undefined && value !== null && compareValues(value, this.extremes[i] ?? null) === 0) this.extremeValid[i] = false;
        return;
      }
      if (acc.op !== '$sum' && acc.op !== '$avg') return;
      const value = member.inputs[i];
      if (!isSummable(value)) return;
      const n = numberOf(value);
      if (sign < 0 && !Number.isInteger(n)) this.stale = true;
      this.totals[i] = (this.totals[i] as number) + sign * n;
      this.numericCounts[i] = (this.numericCounts[i] as number) + sign;
    });
  }

  private resum(): void {
    this.spec.accumulators.forEach((_, i) => {
      this.totals[i] = 0;
      this.numericCounts[i] = 0;
    });
    this.stale = false;
    for (const member of this.members.values()) this.count(member, 1);
  }

  /** The group's output row, `{ _id, ...accumulators }`. */
  row(order: (a: [string, Member], b: [string, Member]) => number): Document {
    if (this.stale) this.resum();
    const out: Document = { _id: this.key === undefined ? null : this.key };
    let sorted: Member[] | undefined;
    const inOrder = (): Member[] => (sorted ??= [...this.members.entries()].sort(order).map(([, m]) => m));
    this.spec.accumulators.forEach((acc, i) => {
      out[acc.field] = this.value(acc.op, i, inOrder);
    });
    return out;
  }

  private value(op: AccumulatorName, i: number, inOrder: () => Member[]): unknown {
    const inputs = (): unknown[] => inOrder().map((m) => m.inputs[i]);
    switch (op) {
      case '$count':
        return this.members.size;
      case '$sum':
        return this.totals[i];
      case '$avg':
        return this.numericCounts[i] === 0 ? null : (this.totals[i] as number) / (this.numericCounts[i] as number);
      case '$min':
      case '$max': {
        if (!this.extremeValid[i]) {
          let best: unknown = undefined;
          for (const member of this.members.values()) if (this.better(op, member.inputs[i], best)) best = member.inputs[i];
          this.extremes[i] = best;
          this.extremeValid[i] = true;
        }
        return this.extremes[i] ?? null;
      }
      case '$first': {
        const list = inputs();
        return list.length === 0 ? null : (list[0] ?? null);
      }
      case '$last': {
        const list = inputs();
        return list.length === 0 ? null : (list[list.length - 1] ?? null);
      }
      case '$push':
        return inputs().filter((v) => v !== undefined);
      case '$addToSet': {
        const seen = new Map<string, unknown>();
        for (const v of inputs()) if (v !== undefined) seen.set(canonicalText({ v }), v);
        // A set has no order in MongoDB; BSON order makes the row stable.
        return [...seen.values()].sort(compareValues);
      }
    }
  }
}
