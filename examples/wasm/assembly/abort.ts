import { Host, LogLevel } from '@extism/as-pdk';

// AssemblyScript's abort (a failed assertion, a `throw`, an allocation the capped memory refuses)
// logs its message at error level and traps; the host reports the trap with that message as the
// batch's function error. Built with `--use abort=<file>/pluginAbort`, so there is no `env.abort` import.
export function pluginAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  Host.log(
    LogLevel.Error,
    (message == null ? 'abort' : message) + ' at ' + (fileName == null ? '?' : fileName) + ':' + line.toString() + ':' + column.toString(),
  );
  unreachable();
}

/** Writes `text` as the plugin's output (UTF-8; the PDK's outputString miscounts non-ASCII text). */
export function outputJson(text: string): void {
  Host.output(Uint8Array.wrap(String.UTF8.encode(text)));
}
