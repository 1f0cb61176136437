import { Config, Host, LogLevel } from '@extism/as-pdk';
import { outputJson } from './abort';
import { elements, field, firstSink, quote, unquote } from './json';
export { pluginAbort } from './abort';

/** The document id as key text: `{"$oid":"…"}` / `{"$numberInt":"7"}` give their inner value, a string its text. */
function idText(documentKey: string): string {
  const id = field(documentKey, '_id');
  if (id == null) return '';
  if (id.charCodeAt(0) == 0x7b) {
    const inner = field(id, '$oid');
    if (inner != null) return unquote(inner);
    const int = field(id, '$numberInt');
    if (int != null) return unquote(int);
    const long = field(id, '$numberLong');
    if (long != null) return unquote(long);
    return id;
  }
  return unquote(id);
}

// Redis cache: `set <coll>:<id>` to the document on insert/update/replace, `del` on delete.
export function handle(): i32 {
  const sink = firstSink(Config.get('sinks'), 'cache');
  const events = elements(Host.inputString());
  const actions: string[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const ns = field(e, 'ns');
    let coll: string | null = null;
    if (ns != null) coll = field(ns, 'coll');
    const key = field(e, 'documentKey');
    if (key == null) continue;
    const collName: string = coll == null ? 'doc' : unquote(coll);
    const name = quote(collName + ':' + idText(key));
    const doc = field(e, 'fullDocument');
    if (field(e, 'op') == '"delete"') actions.push('{"sink":"' + sink + '","op":"del","key":' + name + '}');
    else if (doc != null && doc != 'null') actions.push('{"sink":"' + sink + '","op":"set","key":' + name + ',"value":' + doc + '}');
  }
  Host.log(LogLevel.Info, 'cached ' + actions.length.toString() + ' of ' + events.length.toString() + ' events');
  outputJson('[' + actions.join(',') + ']');
  return 0;
}
