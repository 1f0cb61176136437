// Copies the console's HTML and CSS next to its compiled scripts (dist/console), which the service serves at /console/.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';

const from = new URL('../console/', import.meta.url);
const to = new URL('../dist/console/', import.meta.url);
mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) {
  if (name.endsWith('.html') || name.endsWith('.css')) copyFileSync(new URL(name, from), new URL(name, to));
}
