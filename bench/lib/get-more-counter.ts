import type { CommandSucceededEvent, MongoClient } from 'mongodb';

/** getMores a client has run, and how many of them returned nothing (a change stream polling an idle position). */
export interface GetMoreCounts {
  getMores: number;
  empty: number;
  events: number;
}

/** Counts the getMores of a client made with `monitorCommands: true`, from its command events. */
export function countGetMores(client: MongoClient): GetMoreCounts {
  const counts: GetMoreCounts = { getMores: 0, empty: 0, events: 0 };
  client.on('commandSucceeded', (event: CommandSucceededEvent) => {
    if (event.commandName !== 'getMore') return;
    const reply = event.reply as { cursor?: { nextBatch?: unknown[] } } | undefined;
    const n = reply?.cursor?.nextBatch?.length ?? 0;
    counts.getMores += 1;
    counts.events += n;
    if (n === 0) counts.empty += 1;
  });
  return counts;
}

/** "N getMores (M empty), K events per non-empty one", for a row's note. */
export function describeReads(reads: number, empty: number, events: number): string {
  const full = reads - empty;
  return `${reads.toLocaleString('en-US')} reads (${empty.toLocaleString('en-US')} empty), ${full > 0 ? Math.round(events / full).toLocaleString('en-US') : '0'} events per non-empty read`;
}
