// The extension's own requests (kvm.*, typed in src/protocol.ts), each answered from the machine
// or the stopped target.
import { GuestError } from '../errors.js';
import type { Machine } from '../vmm/machine.js';
import { typeOnTerminal, type KeysRoute } from '../vmm/terminal-input.js';
import type { DebugTarget } from '../debugger/target.js';
import { KvmRequest, type HostBody, type LiveWatchBody } from '../protocol.js';
import type { ScreenEvents } from './screen-events.js';
import { registerPanel, translate } from './views/panel.js';

export interface CustomRequestContext {
  machine: Machine | undefined;
  /** The text screen's events, for kvm.screen. */
  screen?: ScreenEvents;
  /** The target, stopped; throws a GuestError that says why not. */
  stopped(): DebugTarget;
  /** The vCPU of the last stop, for requests that name none. */
  vcpu: number;
  /** The target, running or stopped (kvm.liveWatch), and whether a run or step is in progress. */
  target?: DebugTarget;
  running?: boolean;
  /** Where serial-terminal input goes (the launch's `keys`). */
  keys: KeysRoute;
}

/** The answer's body; throws a GuestError for a request that can't be served. */
export function answerCustomRequest(command: string, args: Record<string, unknown>, c: CustomRequestContext): unknown {
  const vcpu = typeof args.vcpu === 'number' ? args.vcpu : c.vcpu;
  switch (command) {
    case KvmRequest.serialInput:
      if (c.machine) {
        const bytes = typeof args.data === 'string' ? Buffer.from(args.data, 'base64') : Buffer.from(String(args.text ?? ''));
        typeOnTerminal(c.machine, bytes, c.keys, c.screen?.inUse ?? false);
      }
      return undefined;
    case KvmRequest.screen:
      return c.screen?.full();
    case KvmRequest.keys: {
      if (!c.machine) throw new GuestError('no guest is running');
      if (typeof args.text === 'string') c.machine.keyboard.typeText(args.text);
      if (Array.isArray(args.keys)) c.machine.keyboard.pressKeys(...args.keys.map(String));
      return undefined;
    }
    case KvmRequest.hostInfo:
      return c.machine ? ({ kind: c.machine.host.kind, label: c.machine.host.label } satisfies HostBody) : undefined;
    case KvmRequest.cpuMode:
      return { mode: c.stopped().modeLabel(vcpu) };
    case KvmRequest.registerPanel:
      return registerPanel(c.stopped().machine, vcpu);
    case KvmRequest.liveWatch: {
      if (!c.target) throw new GuestError('no guest is running');
      if (!Array.isArray(args.expressions)) throw new GuestError('kvm.liveWatch needs expressions: string[]');
      return { values: c.target.peek(args.expressions, vcpu, c.running ?? false) } satisfies LiveWatchBody;
    }
    case KvmRequest.translate: {
      const target = c.stopped();
      const text = String(args.address ?? '').trim();
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new GuestError(`"${text}" is not an address (use 0x hex or decimal)`);
      return translate(target.machine, vcpu, BigInt(text));
    }
    default:
      throw new GuestError(`unknown request ${command}`);
  }
}
