import fc from 'fast-check';
import { isPublicAddress, literalHostRefusal } from './address-guard.js';

describe('which addresses a guarded sink may reach', () => {
  it('refuses loopback, private, link-local, CGNAT, unspecified and their IPv4-mapped IPv6 forms', () => {
    for (const address of [
      '127.0.0.1',
      '127.8.9.10',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a00:5',
      '::7f00:1',
      '64:ff9b::7f00:1',
      '2002:7f00:1::',
      '[::1]',
    ]) {
      expect([address, isPublicAddress(address)]).toEqual([address, false]);
    }
  });

  it('allows public addresses, and refuses anything that is not an IP literal', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      expect([address, isPublicAddress(address)]).toEqual([address, true]);
    expect(isPublicAddress('example.com')).toBe(false);
  });

  it('refuses every address in 10/8 and 127/8, whatever its last three bytes', () => {
    const byte = fc.integer({ min: 0, max: 255 });
    fc.assert(fc.property(fc.constantFrom(10, 127), byte, byte, byte, (a, b, c, d) => !isPublicAddress(`${a}.${b}.${c}.${d}`)));
  });

  it('refuses localhost names and private literals before any lookup; leaves other names to DNS', () => {
    expect(literalHostRefusal('localhost')).toMatch(/this machine/);
    expect(literalHostRefusal('api.localhost')).toMatch(/this machine/);
    expect(literalHostRefusal('[::1]')).toMatch(/not a public address/);
    expect(literalHostRefusal('10.0.0.5')).toMatch(/not a public address/);
    expect(literalHostRefusal('hooks.example.com')).toBeUndefined();
    expect(literalHostRefusal('8.8.8.8')).toBeUndefined();
    // Other spellings of 127.0.0.1, as a URL's parser hands them over, are refused too.
    for (const url of [
      'http://0x7f000001/',
      'http://2130706433/',
      'http://017700000001/',
      'http://127.1/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::7f00:1]/',
    ]) {
      expect([url, literalHostRefusal(new URL(url).hostname)]).toEqual([url, expect.stringMatching(/not a public address/)]);
    }
  });
});
