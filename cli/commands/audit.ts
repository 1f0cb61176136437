import type { Command } from 'commander';
import { MongoClient } from 'mongodb';
import { loadConfigFile } from '../../app/config.js';
import { ChangeflowError } from '../../core/errors.js';
import { verifyAuditLog, type VerifyResult } from '../../sinks/audit-chain.js';
import { printJson } from '../output.js';

interface VerifyOptions {
  config?: string;
  mongodbUri?: string;
  db?: string;
  collection?: string;
  json?: boolean;
}

/** Where the audit log lives: --config's metadata store and its audit sinks' collections, else flags / MONGODB_URI. */
function target(opts: VerifyOptions): { uri: string; db: string; collections: string[] } {
  if (opts.config) {
    const config = loadConfigFile(opts.config);
    const fromSinks = config.triggers.flatMap((t) =>
      t.sinks.filter((s) => s.kind === 'audit').map((s) => (typeof s['collection'] === 'string' ? s['collection'] : 'audit')),
    );
    return {
      uri: opts.mongodbUri ?? config.mongodb.uri,
      db: opts.db ?? config.mongodb.db,
      collections: opts.collection ? [opts.collection] : [...new Set(fromSinks.length > 0 ? fromSinks : ['audit'])],
    };
  }
  return {
    uri: opts.mongodbUri ?? process.env['MONGODB_URI'] ?? 'mongodb://127.0.0.1:27017',
    db: opts.db ?? 'changeflow',
    collections: [opts.collection ?? 'audit'],
  };
}

export function registerAuditCommand(program: Command): void {
  const audit = program.command('audit').description('Inspect the tamper-evident audit log written by audit sinks');
  audit
    .command('verify')
    .description("Check every stream's hash chain; names the first broken record and exits 1 when the log was altered")
    .option('-c, --config <file>', 'take the metadata store and audit collections from this config file')
    .option('--mongodb-uri <uri>', "metadata store (default: the config's, else $MONGODB_URI, else mongodb://127.0.0.1:27017)")
    .option('--db <name>', 'metadata database (default: the config\'s, else "changeflow")')
    .option('--collection <name>', 'audit collection (default: those of the config\'s audit sinks, else "audit")')
    .option('--json', 'print the result as JSON')
    .action(async (opts: VerifyOptions) => {
      const where = target(opts);
      const client = new MongoClient(where.uri, { serverSelectionTimeoutMS: 10_000 });
      const results: (VerifyResult & { collection: string })[] = [];
      try {
        await client.connect();
        for (const collection of where.collections) results.push({ collection, ...(await verifyAuditLog(client.db(where.db), collection)) });
      } catch (error) {
        throw new ChangeflowError(`cannot read the audit log at ${where.uri.replace(/\/\/[^@/]*@/, '//***@')} db ${where.db}: ${(error as Error).message}`, {
          cause: error,
        });
      } finally {
        await client.close();
      }
      const ok = results.every((r) => r.ok);
      if (opts.json) printJson({ ok, results });
      else {
        for (const r of results) {
          console.log(`${where.db}.${r.collection}: ${r.records} records in ${r.streams} streams — ${r.ok ? 'chain intact' : 'BROKEN'}`);
          for (const b of r.broken) console.log(`  stream ${b.stream}: first broken record seq ${b.seq} (id ${b.id}): ${b.reason}`);
        }
      }
      if (!ok) process.exitCode = 1;
    });
}
