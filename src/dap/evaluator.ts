// The session's door to expression evaluation and debug-console commands. Until the full C
// expression evaluator lands, this answers registers, numbers and ELF symbols.
import type { Machine } from '../vmm/machine.js';
import { GuestError } from '../vmm/errors.js';
import type { DebugInfo } from './debug-info.js';

export interface EvalResult {
  name?: string;
  value: string;
  type?: string;
  memoryReference?: string;
  address?: bigint;
  size?: number;
  children?: () => EvalResult[];
}

export function evaluateOn(m: Machine, vcpu: number, info: DebugInfo | undefined, expr: string): EvalResult {
  const t = expr.trim().replace(/^\$/, '');
  const regs = m.getRegs(vcpu) as unknown as Record<string, bigint>;
  if (t in regs) return { value: '0x' + regs[t].toString(16), type: 'uint64_t', memoryReference: '0x' + regs[t].toString(16) };
  if (/^(0x[0-9a-f]+|\d+)$/i.test(t)) return { value: String(BigInt(t)), type: 'long' };
  const f = info?.functionAddress(t);
  if (f) return { value: '0x' + f.address.toString(16), type: 'symbol', memoryReference: '0x' + f.address.toString(16), address: f.address, size: Number(f.size) || 8 };
  throw new GuestError(`no symbol "${t}" in the current context`);
}

export function consoleCommand(_m: Machine, _vcpu: number, _info: DebugInfo | undefined, _line: string): string | undefined {
  return undefined;
}
