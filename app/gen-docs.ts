import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { replaceGenerated, sameDocs } from '../core/component-spec.js';
import { docsMarkers, generatedPages } from './docs.js';

/** Regenerates the options references in docs/ from the components' config schemas: `npm run docs` from the repo root. */
for (const page of generatedPages) {
  const path = resolve(page.path);
  const before = readFileSync(path, 'utf8');
  const after = replaceGenerated(before, page.render(), docsMarkers);
  const current = sameDocs(after, before);
  if (!current) writeFileSync(path, after);
  console.log(`${page.path}: ${current ? 'up to date' : 'updated'}`);
}
