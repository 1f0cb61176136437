import { canonicalText } from '../../schemas/ejson.js';
import { compareValues } from '../bson-order.js';
import { runStages, type Document } from './document-stages.js';
import { EvaluationError } from './expression.js';
import { GroupState, type Member } from './group.js';
import { LookupState } from './lookup.js';
import type { CompiledPipeline } from './pipeline.js';

/** One row of the target that changed: `before`/`after` undefined when it did not exist. */
export interface RowChange {
  key: string;
  id: unknown;
  before: Document | undefined;
  after: Document | undefined;
}

/**
 * The incremental maintenance of one view, in memory. The state is each source document's
 * contribution: the rows its per-document stages made of it (`contributions`, what the state
 * collection stores). A change replaces one document's contribution: without `$group` its rows
 * are replaced; with `$group` its old members leave their groups and the new ones join theirs, and
 * only the groups touched are computed again. So the work is proportional to the change. With a
 * `$lookup`, what is stored per document is its rows before the `$lookup`, and a change of the foreign
 * collection computes again the contributions of the documents it joins (lookup.ts).
 */
export class ViewEngine {
  /** Source document key → its rows after the stages before `$lookup` (what the state stores). */
  private readonly stored = new Map<string, Document[]>();
  /** Source document key → its rows after every per-document stage (the same as `stored` without `$lookup`). */
  private readonly contributions = new Map<string, Document[]>();
  private readonly lookup: LookupState | undefined;
  /** Row key → the row, and without $group who made it (doc key; the last writer wins a shared _id). */
  private readonly rows = new Map<string, Map<string, Document>>();
  private readonly groups = new Map<string, GroupState>();
  /** Group key → the row key its output was last written under. */
  private readonly groupOutputs = new Map<string, string>();
  private readonly touchedRows = new Map<string, Document | undefined>();
  private readonly touchedGroups = new Set<string>();
  /** Run-time expression failures since the last take (the document's rows are left out). */
  readonly problems: string[] = [];

  constructor(private readonly pipeline: CompiledPipeline) {
    this.lookup = pipeline.lookup ? new LookupState(pipeline.lookup) : undefined;
  }

  get documentCount(): number {
    return this.stored.size;
  }

  get rowCount(): number {
    return this.rows.size;
  }

  /** The rows the pipeline's per-document stages before any `$lookup` make of a source document: what is stored for it. */
  private storedRowsOf(doc: Document): Document[] {
    try {
      return runStages(this.pipeline.before, [doc]);
    } catch (error) {
      if (!(error instanceof EvaluationError)) throw error;
      this.problems.push(`document ${canonicalText(doc['_id'])}: ${error.message}`);
      return [];
    }
  }

  /** The source document `docKey` is now `doc` (null: deleted). Returns what the state stores for it. */
  applyDocument(docKey: string, doc: Document | null): Document[] {
    const stored = doc === null ? [] : this.storedRowsOf(doc);
    this.loadDocument(docKey, stored);
    return stored;
  }

  /** Sets a source document's stored rows (from the state at a restart, or just computed). */
  loadDocument(docKey: string, stored: Document[]): void {
    if (stored.length === 0) this.stored.delete(docKey);
    else this.stored.set(docKey, stored);
    this.lookup?.indexLocal(docKey, stored);
    this.setContribution(docKey, this.contributionFrom(docKey, stored));
  }

  /** A document of the `$lookup` collection is now `doc` (null: deleted): the local documents it joins are computed again. */
  applyForeign(key: string, doc: Document | null): void {
    if (!this.lookup) return;
    for (const docKey of this.lookup.setForeign(key, doc)) this.setContribution(docKey, this.contributionFrom(docKey, this.stored.get(docKey) ?? []));
  }

  /** Keys of the `$lookup` collection's documents held. */
  foreignKeys(): string[] {
    return this.lookup?.foreignKeys() ?? [];
  }

  private contributionFrom(docKey: string, stored: Document[]): Document[] {
    if (!this.lookup || stored.length === 0) return stored;
    try {
      return runStages(this.pipeline.afterLookup, this.lookup.join(stored));
    } catch (error) {
      if (!(error instanceof EvaluationError)) throw error;
      this.problems.push(`document ${docKey}: ${error.message}`);
      return [];
    }
  }

  private setContribution(docKey: string, contribution: Document[]): void {
    const previous = this.contributions.get(docKey) ?? [];
    if (contribution.length === 0) this.contributions.delete(docKey);
    else this.contributions.set(docKey, contribution);
    if (this.pipeline.group) {
      this.leaveGroups(docKey, previous);
      this.joinGroups(docKey, contribution);
    } else {
      for (const row of previous) this.removeRow(this.rowKey(row), docKey);
      for (const row of contribution) this.putRow(this.rowKey(row), docKey, row);
    }
  }

  /** Keys of the source documents that contribute rows. */
  documentKeys(): string[] {
    return [...this.stored.keys()];
  }

  /** The rows that changed since the last call, with their values before and after. */
  takeChanges(): RowChange[] {
    this.refreshTouchedGroups();
    const changes: RowChange[] = [];
    for (const [key, before] of this.touchedRows) {
      const after = this.currentRow(key);
      if (before !== undefined && after !== undefined && canonicalText(before) === canonicalText(after)) continue;
      if (before === undefined && after === undefined) continue;
      changes.push({ key, id: (after ?? before)?.['_id'], before, after });
    }
    this.touchedRows.clear();
    return changes;
  }

  /** Every row of the view (for tests and the first start). */
  allRows(): Document[] {
    this.refreshTouchedGroups();
    return [...this.rows.keys()].map((k) => this.currentRow(k)).filter((r): r is Document => r !== undefined);
  }

  private refreshTouchedGroups(): void {
    for (const groupKey of this.touchedGroups) this.refreshGroup(groupKey);
    this.touchedGroups.clear();
  }

  private rowKey(row: Document): string {
    return canonicalText({ _id: row['_id'] ?? null });
  }

  private currentRow(key: string): Document | undefined {
    const owners = this.rows.get(key);
    if (!owners || owners.size === 0) return undefined;
    return [...owners.values()].at(-1);
  }

  private touch(key: string): void {
    if (!this.touchedRows.has(key)) this.touchedRows.set(key, this.currentRow(key));
  }

  private putRow(key: string, owner: string, row: Document): void {
    this.touch(key);
    let owners = this.rows.get(key);
    if (!owners) this.rows.set(key, (owners = new Map()));
    owners.delete(owner);
    owners.set(owner, row);
  }

  private removeRow(key: string, owner: string): void {
    this.touch(key);
    const owners = this.rows.get(key);
    owners?.delete(owner);
    if (owners?.size === 0) this.rows.delete(key);
  }

  private memberOf(row: Document): { groupKey: unknown; member: Member } | undefined {
    const group = this.pipeline.group;
    if (!group) return undefined;
    try {
      return {
        groupKey: group.key(row),
        member: {
          inputs: group.accumulators.map((acc) => acc.input(row)),
          sortKey: this.pipeline.sort?.fields.map((f) => f.path(row)) ?? [],
        },
      };
    } catch (error) {
      if (!(error instanceof EvaluationError)) throw error;
      this.problems.push(`row ${canonicalText(row['_id'] ?? null)}: ${error.message}`);
      return undefined;
    }
  }

  private groupKeyText(key: unknown): string {
    // A missing group key groups with null, as MongoDB does.
    return canonicalText({ k: key ?? null });
  }

  private leaveGroups(docKey: string, contribution: Document[]): void {
    contribution.forEach((row, i) => {
      const found = this.memberOf(row);
      if (!found) return;
      const text = this.groupKeyText(found.groupKey);
      this.groups.get(text)?.remove(`${docKey}#${i}`);
      this.touchedGroups.add(text);
    });
  }

  private joinGroups(docKey: string, contribution: Document[]): void {
    const group = this.pipeline.group;
    if (!group) return;
    contribution.forEach((row, i) => {
      const found = this.memberOf(row);
      if (!found) return;
      const text = this.groupKeyText(found.groupKey);
      let state = this.groups.get(text);
      if (!state) this.groups.set(text, (state = new GroupState(found.groupKey ?? null, group)));
      state.add(`${docKey}#${i}`, found.member);
      this.touchedGroups.add(text);
    });
  }

  private readonly memberOrder = (a: [string, Member], b: [string, Member]): number => {
    for (const [i, field] of (this.pipeline.sort?.fields ?? []).entries()) {
      const c = compareValues(a[1].sortKey[i] ?? null, b[1].sortKey[i] ?? null);
      if (c !== 0) return c * field.direction;
    }
    return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
  };

  private refreshGroup(groupKey: string): void {
    const state = this.groups.get(groupKey);
    const previousKey = this.groupOutputs.get(groupKey);
    if (previousKey !== undefined) {
      this.removeRow(previousKey, groupKey);
      this.groupOutputs.delete(groupKey);
    }
    if (!state || state.members.size === 0) {
      this.groups.delete(groupKey);
      return;
    }
    let outputs: Document[];
    try {
      outputs = runStages(this.pipeline.after, [state.row(this.memberOrder)]);
    } catch (error) {
      if (!(error instanceof EvaluationError)) throw error;
      this.problems.push(`group ${groupKey}: ${error.message}`);
      return;
    }
    const output = outputs[0];
    if (!output) return;
    const key = this.rowKey(output);
    this.putRow(key, groupKey, output);
    this.groupOutputs.set(groupKey, key);
  }
}
