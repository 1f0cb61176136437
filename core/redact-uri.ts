/** `scheme://user:password@host` → `scheme://user:***@host`; anything else is returned as is. */
export function redactUri(uri: string): string {
  return uri.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^:@/?#]*):([^@/?#]*)@/, (_m, scheme: string, user: string) => `${scheme}${user}:***@`);
}
