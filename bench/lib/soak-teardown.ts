import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';

/**
 * Every process below `root` in a table of pid → parent pid. The soak's servers are started detached
 * (their own process groups, so a Ctrl-C in the terminal does not reach them), which is exactly why
 * they would outlive a killed soak: they are found here by parentage instead.
 */
export function descendants(root: number, table: ReadonlyMap<number, number>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of table) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const out: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    if (pid === root || out.includes(pid)) continue;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** pid → parent pid of every process, from /proc (Linux); empty elsewhere. */
export function processTable(): Map<number, number> {
  const table = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return table;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid …"; comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // A zombie has ended already: nothing to kill.
      if (state !== 'Z' && Number.isInteger(Number(ppid))) table.set(Number(entry), Number(ppid));
    } catch {
      /* ended while we read */
    }
  }
  return table;
}

/**
 * SIGKILL to every descendant of this process (and its process group), after a SIGCONT so a paused
 * one is not left stopped. Synchronous, so it also works in an 'exit' handler. Returns the pids signalled.
 */
export function killDescendants(root = process.pid, table = processTable()): number[] {
  const pids = descendants(root, table);
  for (const pid of pids) {
    for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, signal);
        } catch {
          /* not a group leader, or gone */
        }
      }
    }
  }
  return pids;
}

export interface TeardownOptions {
  /** How long the orderly steps may take after a signal before everything left is killed. */
  graceMs: number;
  hardKill: () => void;
  exit: (code: number) => void;
  log: (line: string) => void;
}

/**
 * The soak's cleanup as a stack of steps (servers, proxies, the service, clients, the work dir), added
 * as each is created and run once, newest first, by whichever comes first: the end of the run, a
 * SIGTERM/SIGINT, or an uncaught failure. After a signal or a failure, whatever the steps did not stop
 * within `graceMs` is killed, and the process exits (128 + signal number, or 1). A second signal kills
 * at once.
 */
export class Teardown {
  private readonly steps: { name: string; run: () => Promise<void> | void }[] = [];
  private running: Promise<void> | undefined;
  private interrupted = false;

  constructor(private readonly options: TeardownOptions) {}

  add(name: string, run: () => Promise<void> | void): void {
    this.steps.push({ name, run });
  }

  /** Runs every step once (later calls get the same promise); a failing step does not stop the others. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (let step = this.steps.pop(); step; step = this.steps.pop()) {
        try {
          await step.run();
        } catch (error) {
          this.options.log(`teardown: ${step.name} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    })();
    return this.running;
  }

  /** A signal or an uncaught failure: tear down within the grace time, kill what is left, exit with `code`. */
  async abort(reason: string, code: number): Promise<void> {
    if (this.interrupted) {
      this.options.log(`${reason} again: killing everything at once`);
      this.options.hardKill();
      this.options.exit(code);
      return;
    }
    this.interrupted = true;
    this.options.log(`${reason}: stopping the soak's servers and service (at most ${this.options.graceMs / 1000} s)`);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.graceMs);
    });
    await Promise.race([this.run(), grace]);
    clearTimeout(timer);
    this.options.hardKill();
    this.options.exit(code);
  }

  /** SIGTERM, SIGINT and uncaught exceptions (unhandled rejections included) abort; every exit kills what is left. */
  install(proc: NodeJS.Process = process): void {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) proc.on(signal, () => void this.abort(signal, 128 + constants.signals[signal]));
    proc.on('uncaughtException', (error) => {
      this.options.log(`uncaught failure: ${error.stack ?? error.message}`);
      void this.abort('uncaught failure', 1);
    });
    proc.on('exit', () => this.options.hardKill());
  }
}
