/**
 * Script evaluated in every function's VM before the user's module. It is called once with the host log
 * function and returns the internals the host drives: run / settle / diagnose / toJson / bind.
 * The user's module can replace globals, but it can never reach these closures, and the host trusts
 * nothing that comes back except bytes it decodes and validates itself.
 *
 * Date: functions have no clock. `Date.now()`, `new Date()` and `Date()` throw (a function's output must
 * not depend on when it runs); `ctx.now()` returns the batch's timestamp the host passed. Date with
 * explicit arguments, Date.parse and Date.UTC work.
 */
export const PRELUDE_SOURCE = String.raw`(function (hostLog) {
  'use strict';
  const G = globalThis;
  const RealDate = G.Date;
  const construct = Reflect.construct;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const isArray = Array.isArray;
  const ownKeys = Object.keys;
  const getDesc = Object.getOwnPropertyDescriptor;
  const getProto = Object.getPrototypeOf;
  const defineProp = Object.defineProperty;
  const ObjectProto = Object.prototype;
  const NON_DATA = [Map, Set, WeakMap, WeakSet, RegExp, Promise, ArrayBuffer, Number, String, Boolean, Error, WeakRef];
  let clock;
  let logOpen = true;
  let handler;
  let pending;

  function tagged(name, message) {
    const e = new Error(message);
    e.name = name;
    return e;
  }

  function show(v) {
    if (typeof v === 'string') return v;
    if (typeof v === 'function') return '[function ' + (v.name || 'anonymous') + ']';
    if (typeof v === 'bigint') return String(v) + 'n';
    if (typeof v === 'symbol') return String(v);
    if (v instanceof Error) return v.name + ': ' + v.message;
    try {
      const s = stringify(v);
      return s === undefined ? String(v) : s;
    } catch (e) {
      return String(v);
    }
  }

  function log(level, args) {
    if (!logOpen) return;
    let line = '';
    for (let i = 0; i < args.length; i++) line += (i === 0 ? '' : ' ') + show(args[i]);
    logOpen = hostLog(level, line);
  }

  const consoleObject = {
    log: function log_() { log('info', arguments); },
    info: function info() { log('info', arguments); },
    debug: function debug() { log('debug', arguments); },
    warn: function warn() { log('warn', arguments); },
    error: function error() { log('error', arguments); },
  };
  defineProp(G, 'console', { value: consoleObject, writable: true, configurable: true, enumerable: false });

  function noClock(what) {
    throw new Error(what + ' is not available in functions: they have no clock; use ctx.now() for the batch time (ms since epoch), e.g. new Date(ctx.now())');
  }
  function batchTime() {
    if (clock === undefined) throw new Error('ctx.now(): this call was given no batch time');
    return clock;
  }
  function Date() {
    if (new.target === undefined) return noClock('Date()');
    if (arguments.length === 0) return noClock('new Date()');
    return construct(RealDate, arguments, new.target);
  }
  Date.prototype = RealDate.prototype;
  defineProp(RealDate.prototype, 'constructor', { value: Date, writable: true, configurable: true, enumerable: false });
  Date.now = function now() { return noClock('Date.now()'); };
  Date.parse = RealDate.parse;
  Date.UTC = RealDate.UTC;
  defineProp(G, 'Date', { value: Date, writable: true, configurable: true, enumerable: false });

  function describe(v) {
    if (v === null) return 'null';
    if (isArray(v)) return 'an array';
    return typeof v === 'object' ? 'an object' : typeof v;
  }

  function combine(emitted, out) {
    if (out === undefined || out === null) return emitted;
    if (!isArray(out)) {
      throw tagged('CfInvalidActions', 'function must return an array of actions (or nothing when it uses ctx.emit), got ' + describe(out));
    }
    if (emitted.length === 0) return out;
    for (let i = 0; i < out.length; i++) emitted[emitted.length] = out[i];
    return emitted;
  }

  function run(input) {
    const msg = typeof input === 'string' ? parse(input) : input;
    clock = msg.n;
    logOpen = true;
    pending = undefined;
    const emitted = [];
    const ctx = {
      trigger: msg.t,
      emit: function emit(action) { emitted[emitted.length] = action; },
      log: consoleObject.log,
      now: batchTime,
    };
    const out = handler(msg.e, ctx);
    if (out !== null && typeof out === 'object' && typeof out.then === 'function') {
      const state = { emitted: emitted, done: 0, value: undefined };
      pending = state;
      out.then(function (v) { state.done = 1; state.value = v; }, function (e) { state.done = 2; state.value = e; });
      return undefined;
    }
    return combine(emitted, out);
  }

  function settle() {
    const state = pending;
    pending = undefined;
    if (state === undefined || state.done === 0) {
      throw new Error('function returned a promise that never settled (functions have no timers or I/O to wait for)');
    }
    if (state.done === 2) throw state.value;
    return combine(state.emitted, state.value);
  }

  function ctorName(v) {
    const proto = getProto(v);
    const ctor = proto && getDesc(proto, 'constructor');
    return ctor && typeof ctor.value === 'function' && ctor.value.name ? ctor.value.name : 'object';
  }

  // Only called after serialisation failed: finds and names the first offending value.
  function diagnose(actions) {
    const stack = [];
    function bad(path, what) { throw tagged('CfOutput', path + ' ' + what); }
    function walk(v, path) {
      const t = typeof v;
      if (t === 'function') bad(path, 'is a function, which is not serialisable');
      if (t === 'symbol') bad(path, 'is a symbol, which is not serialisable');
      if (t === 'bigint') bad(path, 'is a BigInt, which is not serialisable (convert it to a string or number)');
      if (t !== 'object' || v === null) return;
      if (stack.indexOf(v) !== -1) bad(path, 'is a circular reference');
      const proto = getProto(v);
      if (!isArray(v) && proto !== ObjectProto && proto !== null) {
        for (let i = 0; i < NON_DATA.length; i++) {
          if (v instanceof NON_DATA[i]) bad(path, 'is a ' + ctorName(v) + ', which is not serialisable');
        }
        if (ArrayBuffer.isView(v)) bad(path, 'is a ' + ctorName(v) + ', which is not serialisable');
      }
      stack.push(v);
      const keys = ownKeys(v);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        const sub = isArray(v) ? path + '[' + k + ']' : path + '.' + k;
        const d = getDesc(v, k);
        if (d === undefined) continue;
        if (d.get || d.set) bad(sub, 'is a getter/setter property, which is not serialisable');
        walk(d.value, sub);
      }
      stack.pop();
    }
    walk(actions, 'actions');
    throw tagged('CfOutput', 'actions could not be serialised (an unsupported object such as a Proxy, or the memory limit was reached)');
  }

  function toJson(actions) {
    try {
      return stringify(actions);
    } catch (e) {
      return diagnose(actions);
    }
  }

  function bind(ns) {
    const fn = typeof ns.default === 'function' ? ns.default : ns.__changeflow_handle;
    if (typeof fn !== 'function') {
      throw tagged('CfShape', 'function code must "export default" a function (or declare "function handle(events, ctx)")');
    }
    handler = fn;
  }

  return { run: run, settle: settle, diagnose: diagnose, toJson: toJson, bind: bind };
})`;

/**
 * Appended to user code (after a newline, so line/column numbers are unchanged). It exposes a plain
 * `function handle` declaration when the code has no default export.
 */
export const SOURCE_TRAILER = '\n;export const __changeflow_handle = typeof handle === "function" ? handle : undefined;\n';
