import { Config, Host } from '@extism/as-pdk';
import { outputJson } from './abort';
import { elements, field, firstSink, numberValue, quote } from './json';
export { pluginAbort } from './abort';

// Filter + enrich: keeps inserted/updated orders whose status is "paid" and writes them with two
// fields added: `paidVia` (the trigger's name) and `flagged` (total above 1000).
export function handle(): i32 {
  const sink = firstSink(Config.get('sinks'), 'out');
  const trigger = Config.get('trigger');
  const events = elements(Host.inputString());
  const actions: string[] = [];
  for (let i = 0; i < events.length; i++) {
    const doc = field(events[i], 'fullDocument');
    if (doc == null || doc.length < 2 || field(doc, 'status') != '"paid"') continue;
    const amount = numberValue(field(doc, 'total'));
    const extra = '"paidVia":' + quote(trigger == null ? '' : trigger) + ',"flagged":' + (amount > 1000 ? 'true' : 'false');
    const enriched = doc == '{}' ? '{' + extra + '}' : '{' + extra + ',' + doc.substring(1);
    actions.push('{"sink":"' + sink + '","op":"upsert","doc":' + enriched + '}');
  }
  outputJson('[' + actions.join(',') + ']');
  return 0;
}
