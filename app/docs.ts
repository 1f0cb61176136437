import { generatedMarkers, renderOptionTable } from '../core/component-spec.js';
import { renderSourceKinds } from '../connectors/docs.js';
import { sourceKinds } from '../connectors/registry.js';
import { triggerConfigSchema } from '../processors/trigger-config.js';
import { viewConfigSchema } from '../processors/views/view-config.js';
import { renderSinkKinds } from '../sinks/docs.js';
import { sinkKinds } from '../sinks/registry.js';

/** The command that regenerates every generated reference (named in the markers it writes). */
export const docsCommand = 'npm run docs';
export const docsMarkers = generatedMarkers(docsCommand);

/** Each page with a generated options reference, and what goes between its markers. */
export const generatedPages: readonly { path: string; render: () => string }[] = [
  { path: 'docs/sources.md', render: () => renderSourceKinds(sourceKinds) },
  { path: 'docs/processors.md', render: () => renderOptionTable(triggerConfigSchema).join('\n') },
  { path: 'docs/sinks.md', render: () => renderSinkKinds(sinkKinds) },
  { path: 'docs/views.md', render: () => renderOptionTable(viewConfigSchema).join('\n') },
];
