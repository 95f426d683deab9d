// Preloaded into the adapter (node -r bench/dap/count-ioctls.cjs dist/adapter.js) by
// `bench/dap/run.ts --ioctls`: counts every KVM ioctl the adapter makes, by the DAP request being
// served when it was made (the last request read from stdin) and by the chain of functions that
// made it. Written as JSON to $KVMDBG_IOCTL_OUT at exit. Diagnostic only: the stack capture slows
// every ioctl down a lot.
'use strict';
const Module = require('node:module');
const { writeFileSync } = require('node:fs');

const NAMES = {
  0x80: 'KVM_RUN', 0x81: 'KVM_GET_REGS', 0x82: 'KVM_SET_REGS', 0x83: 'KVM_GET_SREGS', 0x84: 'KVM_SET_SREGS',
  0x88: 'KVM_GET_MSRS', 0x89: 'KVM_SET_MSRS', 0x8c: 'KVM_GET_FPU', 0x8d: 'KVM_SET_FPU',
  0x98: 'KVM_GET_MP_STATE', 0x99: 'KVM_SET_MP_STATE', 0x9b: 'KVM_SET_GUEST_DEBUG',
  0x9f: 'KVM_GET_VCPU_EVENTS', 0xa0: 'KVM_SET_VCPU_EVENTS', 0xa1: 'KVM_GET_DEBUGREGS', 0xa2: 'KVM_SET_DEBUGREGS',
  0xa4: 'KVM_GET_XSAVE', 0xa5: 'KVM_SET_XSAVE', 0x46: 'KVM_SET_USER_MEMORY_REGION',
};
const name = (req) => {
  const r = Number(BigInt.asUintN(32, BigInt(req)));
  return (r >> 8 & 0xff) === 0xae ? NAMES[r & 0xff] ?? `KVM_0x${(r & 0xff).toString(16)}` : `ioctl 0x${r.toString(16)}`;
};

let current = '(launch)';
const requests = {};
/** request -> ioctl name -> count */
const byRequest = {};
/** "request | ioctl | caller chain" -> count */
const bySite = {};

// The request being served: the last "command" read from stdin (requests come one at a time).
const origOn = process.stdin.on;
process.stdin.on = function (ev, fn) {
  if (ev === 'data') {
    const wrapped = (d) => {
      for (const m of d.toString('utf8').matchAll(/"command":"([^"]+)"/g)) {
        current = m[1];
        requests[current] = (requests[current] ?? 0) + 1;
      }
      return fn(d);
    };
    return origOn.call(this, ev, wrapped);
  }
  return origOn.call(this, ev, fn);
};

function chain() {
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 14;
  const stack = new Error().stack.split('\n').slice(3); // drop Error, chain, the wrapper
  Error.stackTraceLimit = saved;
  const names = [];
  for (const line of stack) {
    const m = /^\s*at (?:async )?([^\s(]+)/.exec(line);
    if (!m || m[1].startsWith('node:') || m[1] === 'new') continue;
    names.push(m[1]);
    if (/Request$|^(Machine\.(run|step))$/.test(m[1])) break;
  }
  return names.join(' < ');
}

const origLoad = Module._load;
Module._load = function (request, parent, isMain) {
  const mod = origLoad.apply(this, arguments);
  if (request !== 'koffi' || mod.__counted) return mod;
  const wrapLib = (lib) => new Proxy(lib, {
    get(target, prop) {
      const v = Reflect.get(target, prop);
      if (prop !== 'func') return typeof v === 'function' ? v.bind(target) : v;
      return (...args) => {
        const f = v.apply(target, args);
        if (!/\bioctl\s*\(/.test(String(args[0]))) return f;
        return (fd, req, arg) => {
          const n = name(req);
          (byRequest[current] ??= {})[n] = (byRequest[current][n] ?? 0) + 1;
          const key = `${current} | ${n} | ${chain()}`;
          bySite[key] = (bySite[key] ?? 0) + 1;
          return f(fd, req, arg);
        };
      };
    },
  });
  const wrapped = new Proxy(mod, {
    get(target, prop) {
      if (prop === '__counted') return true;
      const v = Reflect.get(target, prop);
      if (prop === 'load') return (...a) => wrapLib(v.apply(target, a));
      return v;
    },
  });
  return wrapped;
};

process.on('exit', () => {
  const out = process.env.KVMDBG_IOCTL_OUT;
  if (out) writeFileSync(out, JSON.stringify({ requests, byRequest, bySite }, null, 1));
});
