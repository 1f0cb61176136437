import { ChangeflowError, UnavailableError, dependencyOf } from './errors.js';

describe('dependencyOf', () => {
  it('names the dependency an error or one of its causes carries', () => {
    const kafka = new UnavailableError('broker down', { dependency: 'Kafka' });
    expect(dependencyOf(kafka)).toBe('Kafka');
    expect(dependencyOf(new ChangeflowError('send failed', { cause: kafka }))).toBe('Kafka');
  });

  it('answers undefined when no error in the chain names one', () => {
    expect(dependencyOf(new ChangeflowError('bad', { cause: new Error('worse') }))).toBeUndefined();
    expect(dependencyOf('a thrown string')).toBeUndefined();
  });
});
