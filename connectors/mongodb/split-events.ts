import type { Document } from 'mongodb';
import { ChangeflowError } from '../../core/errors.js';

/**
 * Events over 16 MB reach a pipeline ending in `$changeStreamSplitLargeEvent` as fragments: each
 * has its own resume token and `splitEvent: { fragment, of }`, the first holds the event's context
 * (operationType, ns, documentKey, …) and the rest one or more of its large fields. The source
 * publishes the joined event only: a fragment alone would be an update without its delta, or no
 * event at all.
 */

/** A change event's BSON that is one fragment of a split event (thrown by changeFromBytes, caught by the source). */
export class SplitFragment extends ChangeflowError {
  constructor(readonly fragment: Document) {
    super('a fragment of a split change event', { code: 'SPLIT_FRAGMENT' });
  }
}

function fragmentNumbers(event: Document): { fragment: number; of: number } {
  const split = event['splitEvent'] as { fragment?: unknown; of?: unknown } | null | undefined;
  const fragment = Number(split?.fragment?.valueOf());
  const of = Number(split?.of?.valueOf());
  if (!Number.isInteger(fragment) || !Number.isInteger(of) || fragment < 1 || fragment > of) {
    throw new ChangeflowError(`a split change event fragment with splitEvent ${JSON.stringify(split)} (expected { fragment: 1..of, of })`, {
      code: 'SPLIT_EVENT_INVALID',
    });
  }
  return { fragment, of };
}

/** Collects the fragments of one event at a time, in order. */
export class SplitEventJoiner {
  private parts: Document[] = [];
  private expected = 0;

  /** True between the first fragment of an event and its last. */
  get pending(): boolean {
    return this.parts.length > 0;
  }

  /** Adds the next fragment; returns the whole event once its last fragment is in, else null. */
  add(fragment: Document): Document | null {
    const { fragment: n, of } = fragmentNumbers(fragment);
    if (n === 1) {
      // A first fragment while another event was incomplete: the stream restarted inside it; start over.
      this.parts = [];
      this.expected = of;
    } else if (n !== this.parts.length + 1 || of !== this.expected) {
      throw new ChangeflowError(`split change event: got fragment ${n} of ${of} after ${this.parts.length} of ${this.expected}`, { code: 'SPLIT_EVENT_ORDER' });
    }
    this.parts.push(fragment);
    if (n < of) return null;
    const whole: Document = {};
    for (const part of this.parts) {
      for (const [key, value] of Object.entries(part)) if (key !== 'splitEvent') whole[key] = value;
    }
    // The last fragment's token: resuming after it starts at the next event (resuming after an earlier one repeats the rest).
    this.parts = [];
    this.expected = 0;
    return whole;
  }

  reset(): void {
    this.parts = [];
    this.expected = 0;
  }
}
