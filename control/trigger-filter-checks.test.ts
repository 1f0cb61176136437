import { toDefinition } from './definition.js';
import type { TriggerDoc } from './documents.js';
import { checkTriggerShape, databaseConfigSchema } from './trigger-messages.js';

const database = (match: string) => databaseConfigSchema.parse({ database: 'shop', collection: 'orders', match });
const shape = (match: string) => ({ trigger_type: 1, database: database(match), sinks: [{ name: 'a', kind: 'audit', options_json: undefined }] });
const WHERE = JSON.stringify({ $where: '(process.getBuiltinModule("fs").writeFileSync("pwned.txt", String(process.pid)), true)' });

describe("a trigger's match over the control plane", () => {
  it('refuses $where at create/update, naming the operator', () => {
    expect(checkTriggerShape(shape(WHERE), 'trigger', [])).toEqual([
      expect.stringMatching(/^trigger\.database\.match: operator \$where is not allowed \(filters are data, never code; allowed: /),
    ]);
  });

  it('refuses an unknown operator, naming it and its path', () => {
    expect(checkTriggerShape(shape('{"a":{"$foo":1}}'), 'trigger', [])).toEqual([
      expect.stringMatching(/^trigger\.database\.match\.a: operator \$foo is not allowed \(unknown operator/),
    ]);
  });

  it('accepts an allowed filter', () => {
    expect(checkTriggerShape(shape('{"fullDocument.qty":{"$gte":5},"op":{"$in":["insert","update"]}}'), 'trigger', [])).toEqual([]);
  });

  it('does not run a stored trigger whose match was stored before it was checked, saying why', () => {
    const now = new Date(0);
    const doc: TriggerDoc = {
      _id: '665f1c2e9b1d4a0012345678',
      user_id: 'b',
      name: 'pwn',
      trigger_type: 1,
      function_id: '',
      enabled: true,
      config: { database: { data_source: '', database: 'shop', collection: 'orders', operation_types: [], match: WHERE } },
      sinks: [{ name: 'a', kind: 'audit', options: {} }],
      created_at: now,
      updated_at: now,
    };
    expect(toDefinition(doc, undefined, { scheduleTopic: (k) => k })).toEqual({
      reason: expect.stringMatching(/^config\.database\.match: operator \$where is not allowed/),
    });
  });
});
