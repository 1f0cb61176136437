import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderSinkKinds, replaceGenerated, sameDocs } from './docs.js';
import { sinkKinds } from './registry.js';

/** Regenerates the options reference in docs/sinks.md: `npm run build && node dist/sinks/gen-docs.js` from the repo root. */
const path = resolve(process.argv[2] ?? 'docs/sinks.md');
const before = readFileSync(path, 'utf8');
const after = replaceGenerated(before, renderSinkKinds(sinkKinds));
const current = sameDocs(after, before);
if (!current) writeFileSync(path, after);
console.log(`${path}: ${current ? 'up to date' : 'updated'} (${sinkKinds.length} sink kinds)`);
