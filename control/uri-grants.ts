/**
 * A URI as compared with an admin's `sinkUris` / `dataSources` prefixes: credentials dropped, scheme
 * and hosts lowercased, `..` resolved. Credentials are dropped so `mongodb://allowed:1@evil` cannot
 * pass for a URI starting `mongodb://allowed:1`.
 */
export function comparableUri(uri: string): string {
  const text = uri.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (!scheme) return text;
  const name = (scheme[1] ?? '').toLowerCase();
  if (name === 'mongodb' || name === 'mongodb+srv') {
    // Several hosts, which WHATWG URL does not parse: the authority ends at the first "/", "?" or "#".
    const rest = text.slice(scheme[0].length);
    const end = rest.search(/[/?#]/);
    const authority = end === -1 ? rest : rest.slice(0, end);
    const hosts = authority.slice(authority.lastIndexOf('@') + 1).toLowerCase();
    return `${name}://${hosts}${end === -1 ? '' : rest.slice(end)}`;
  }
  try {
    const url = new URL(text);
    return `${url.protocol}//${url.host}${url.pathname}${url.search}`;
  } catch {
    return text;
  }
}

/**
 * The URI starts with one of the prefixes, and ends there or continues at a boundary (`/`, `?`, `#`),
 * so `mongodb://db-a` does not grant `mongodb://db-a.evil.net` nor `mongodb://db-a,evil:27017`.
 */
export function uriGranted(uri: string, prefixes: readonly string[]): boolean {
  const target = comparableUri(uri);
  return prefixes.some((raw) => {
    const prefix = comparableUri(raw);
    if (!target.startsWith(prefix)) return false;
    const rest = target.slice(prefix.length);
    return rest === '' || /[/?&#]$/.test(prefix) || /^[/?#]/.test(rest);
  });
}
