import { Host } from '@extism/as-pdk';
import { outputJson } from './abort';
import { elements, field, path, unquote } from './json';
export { pluginAbort } from './abort';

// The bench's trivial function (bench/processor.ts TRIVIAL, in AssemblyScript): one `set` per event,
// key `doc:<_id.$numberInt>`, value the full document.
export function handle(): i32 {
  const events = elements(Host.inputString());
  const actions = new Array<string>(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const id = path(e, ['documentKey', '_id', '$numberInt']);
    const idText: string = id == null ? '' : unquote(id);
    const doc = field(e, 'fullDocument');
    const value: string = doc == null ? 'null' : doc;
    actions[i] = '{"sink":"out","op":"set","key":"doc:' + idText + '","value":' + value + '}';
  }
  outputJson('[' + actions.join(',') + ']');
  return 0;
}
