import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { ChangeflowError } from '../core/errors.js';

/**
 * Addresses a tenant's outgoing connections must not reach unless an admin granted the target:
 * the machine itself, private networks, link-local (cloud metadata services live at
 * 169.254.169.254), carrier-grade NAT, multicast and reserved ranges.
 */
const nonPublic = new BlockList();
const v4: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
const v6: [string, number][] = [
  // Unspecified, loopback and the deprecated IPv4-compatible form (::a.b.c.d); IPv4-mapped addresses
  // (::ffff:a.b.c.d) are matched against the IPv4 rules by BlockList itself.
  ['::', 96],
  // NAT64 and 6to4 carry an IPv4 address a gateway may route to, private ones included.
  ['64:ff9b::', 96],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
];
for (const [net, prefix] of v4) nonPublic.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of v6) nonPublic.addSubnet(net, prefix, 'ipv6');

/** `[::1]` (a URL's hostname) → `::1`. */
function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Whether `address` (an IP literal) is on the public internet. IPv4-mapped IPv6 addresses count as their IPv4 address. */
export function isPublicAddress(address: string): boolean {
  const ip = unbracket(address);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  if (mapped) return !nonPublic.check(mapped, 'ipv4');
  const family = isIP(ip);
  if (family === 0) return false;
  return !nonPublic.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** Why a URL's host is refused before any lookup (an IP literal or `localhost`); undefined when only DNS can tell. */
export function literalHostRefusal(hostname: string): string | undefined {
  const host = unbracket(hostname).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is this machine`;
  if (isIP(host) !== 0 && !isPublicAddress(host)) return `${host} is not a public address`;
  return undefined;
}

/** The target is not on the public internet: no retry changes that, only a grant in `sinkUris`. */
export class NonPublicAddressError extends ChangeflowError {
  constructor(readonly reason: string) {
    super(reason, { retriable: false, code: 'TARGET_NOT_PUBLIC' });
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `http.request` / `net.connect` that refuses hosts resolving to a non-public
 * address. Checked at each connection, after DNS, so a name that resolves elsewhere later (DNS
 * rebinding) is still caught. IP literals skip `lookup`: check them with `literalHostRefusal` first.
 */
export function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  const all: LookupAllOptions = { ...options, all: true };
  dnsLookup(hostname, all, (error, addresses) => {
    if (error) return callback(error, []);
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused)
      return callback(new NonPublicAddressError(`${hostname} resolves to ${refused.address}, which is not a public address`) as NodeJS.ErrnoException, []);
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`${hostname}: no address`), { code: 'ENOTFOUND' }), []);
    callback(null, first.address, first.family);
  });
}
