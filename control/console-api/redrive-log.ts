import type { Db } from 'mongodb';
import { letterAt } from './dead-letter-reader.js';

interface RedriveDoc {
  /** `<dead-letter topic>:<partition>:<offset>`. */
  _id: string;
  topic: string;
  at: Date;
  by: string;
}

/** The metadata store's record of dead letters sent back one, a selection or a filter at a time. */
export const REDRIVES = 'console_redrives';

/**
 * Which dead letters the console sent back by coordinates. "Redrive all" moves the replay group's
 * offset, which marks what it passed; redriving one, a selection or a filter leaves no such mark, so
 * without this every console (and every instance) would show them waiting, and a second "redrive
 * matching" would deliver them again.
 */
export class RedriveLog {
  constructor(private readonly db: Db) {}

  private get docs() {
    return this.db.collection<RedriveDoc>(REDRIVES);
  }

  async record(topic: string, letters: readonly { partition: number; offset: string }[], by: string): Promise<void> {
    if (letters.length === 0) return;
    const at = new Date();
    await this.docs.bulkWrite(
      letters.map((l) => {
        const _id = `${topic}:${letterAt(l.partition, l.offset)}`;
        return { updateOne: { filter: { _id }, update: { $set: { topic, at, by } }, upsert: true } };
      }),
      { ordered: false },
    );
  }

  /** The redriven letters of `topic`, by letterAt. */
  async redrivenOf(topic: string): Promise<Set<string>> {
    const found = new Set<string>();
    for await (const doc of this.docs.find({ topic }, { projection: { _id: 1 } })) found.add(doc._id.slice(topic.length + 1));
    return found;
  }
}
