/** Where a server listens, as the fault proxy must reach it. */
export interface HostPort {
  host: string;
  port: number;
}

/** `host:port` (`--kafka`), e.g. `127.0.0.1:9092` or `[::1]:9092`. */
export function parseHostPort(text: string, flag: string): HostPort {
  const match = /^(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(text.trim());
  if (!match) throw new Error(`${flag}: host:port, e.g. 127.0.0.1:9092 (got ${JSON.stringify(text)})`);
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

/**
 * The first host of a `mongodb://` URI. The proxy forwards to that one server, so a replica set URI
 * must list its primary first; `mongodb+srv://` (a DNS lookup of many hosts) cannot be proxied.
 */
export function mongoTarget(uri: string, flag: string): HostPort {
  const match = /^mongodb:\/\/(?:[^@/]*@)?([^/?]+)/.exec(uri);
  if (!match)
    throw new Error(
      `${flag}: a mongodb:// URI (mongodb+srv:// cannot sit behind the soak's proxy), e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0 (got ${JSON.stringify(uri)})`,
    );
  const first = (match[1] as string).split(',')[0] as string;
  return /:\d+$/.test(first) ? parseHostPort(first, flag) : { host: first, port: 27017 };
}

/**
 * The same URI (credentials, database, options) with its hosts replaced by the proxy on loopback and
 * `directConnection=true`: the driver must not discover the other members and go around the proxy.
 */
export function proxiedMongoUri(uri: string, proxyPort: number): string {
  const match = /^mongodb:\/\/([^@/]*@)?([^/?]+)(\/[^?]*)?(\?.*)?$/.exec(uri);
  if (!match) throw new Error(`not a mongodb:// URI: ${uri}`);
  const [, auth = '', , path = '/', query = ''] = match;
  const params = new URLSearchParams(query.slice(1));
  params.set('directConnection', 'true');
  return `mongodb://${auth}127.0.0.1:${proxyPort}${path}?${params.toString()}`;
}
