import { Config, Host } from '@extism/as-pdk';
import { outputJson } from './abort';
import { elements, field, firstSink } from './json';
export { pluginAbort } from './abort';

// Pass-through for a MongoDB sink: upserts each inserted/updated/replaced document and deletes each
// deleted one, in the trigger's first sink (collection A synced to B).
export function handle(): i32 {
  const sink = firstSink(Config.get('sinks'), 'out');
  const events = elements(Host.inputString());
  const actions: string[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const op = field(e, 'op');
    const doc = field(e, 'fullDocument');
    if (op == '"delete"') {
      const key = field(e, 'documentKey');
      if (key != null) actions.push('{"sink":"' + sink + '","op":"delete","filter":' + key + '}');
    } else if (doc != null && doc != 'null') {
      actions.push('{"sink":"' + sink + '","op":"upsert","doc":' + doc + '}');
    }
  }
  outputJson('[' + actions.join(',') + ']');
  return 0;
}
