// The views of code at a stop: the call stack's frames and the Disassembly view, each with the
// source line the symbols give.
import { basename } from 'node:path';
import { Source, StackFrame } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { DebugTarget } from '../../debugger/target.js';
import type { DebugInfo } from '../../debugger/debug-info.js';
import { disassemble, type AsmSyntax } from '../../x86/disasm.js';

const sourceOf = (file: string) => new Source(basename(file), file);

/** Frames `start` to `start + levels` of a vCPU's stack (all of them without `levels`). */
export function stackFrames(target: DebugTarget, info: DebugInfo | undefined, vcpu: number, start = 0, levels?: number): DebugProtocol.StackTraceResponse['body'] {
  const stack = target.stack(vcpu);
  const frames = stack.upTo(levels ? start + levels : undefined);
  return {
    totalFrames: stack.total,
    stackFrames: frames.slice(start, levels ? start + levels : undefined).map((f, i) => {
      // A caller is inside its call: its line and function are those of the call instruction
      // (scopePc, as gdb looks them up), not of the return address, which at -O2 often starts
      // the next line, an inlined callee's line or, after a call that never returns, the next
      // function. The instruction pointer stays the return address.
      // An inlined call's frame shows its function and its line, or the call's line in it.
      const loc = f.inline ? f.inline.location : info?.lineAt(f.scopePc);
      const name = f.inline?.name ?? info?.symbolize(f.pc, f.scopePc) ?? `0x${f.pc.toString(16)}`;
      const sf = new StackFrame(DebugTarget.frameId(vcpu, start + i), name,
        loc ? sourceOf(loc.file) : undefined, loc?.line ?? 0, loc?.column ?? 0) as DebugProtocol.StackFrame;
      sf.instructionPointerReference = '0x' + f.pc.toString(16);
      if (!loc) sf.presentationHint = 'subtle';
      return sf;
    }),
  };
}

/** The Disassembly view's instructions in the vCPU's code bitness, a source line where one begins. */
export function disassembly(target: DebugTarget, info: DebugInfo | undefined, vcpu: number, args: DebugProtocol.DisassembleArguments,
  syntax: AsmSyntax): DebugProtocol.DisassembledInstruction[] {
  const start = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
  const lines = disassemble((a, n) => target.read(vcpu, a, n), target.codeBits(vcpu), start, args.instructionOffset ?? 0, args.instructionCount,
    (a) => info?.symbolize(a), { csBase: target.snapshot(vcpu, 0).sregs.cs.base, syntax });
  let lastLine = '';
  return lines.map((l) => {
    const d: DebugProtocol.DisassembledInstruction = {
      address: '0x' + l.address.toString(16),
      instructionBytes: l.bytes.toString('hex').replace(/(..)(?!$)/g, '$1 '),
      instruction: l.text,
    };
    if (l.invalid) d.presentationHint = 'invalid';
    if (l.symbol) d.symbol = l.symbol;
    const loc = l.invalid ? undefined : info?.lineAt(l.address);
    const key = loc && `${loc.file}:${loc.line}`;
    if (loc && key !== lastLine) {
      d.location = sourceOf(loc.file);
      d.line = loc.line;
      lastLine = key!;
    }
    return d;
  });
}
