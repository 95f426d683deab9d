// The Variables view's handles and what they stand for: a frame's scopes (source variables and
// register groups), the children of an evaluated value, and the answers that hand out handles
// (evaluate, setVariable, dataBreakpointInfo). Handles live until the guest runs again.
import { Handles, Scope } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { GuestError } from '../errors.js';
import { DebugTarget, REGISTER_GROUPS } from '../debugger/target.js';
import type { DebugInfo } from '../debugger/debug-info.js';
import { evaluate, setValue, type EvalResult } from '../debugger/evaluate.js';
import { dataId } from '../debugger/breakpoints.js';
import { scopeVariables, parseRegisterValue, type ScopeName, type Expand } from './views/registers.js';

type SourceScope = 'Locals' | 'Globals';
type VarRef = { scope: ScopeName | SourceScope; vcpu: number; frame: number } | Expand;

/** What a change made stale: the views to refresh and the guest memory written. */
export interface Changed {
  invalidated: DebugProtocol.InvalidatedAreas[];
  memory?: { address: bigint; size: number };
}

const isSource = (s: string): s is SourceScope => s === 'Locals' || s === 'Globals';

export class Variables {
  private refs = new Handles<VarRef>();

  constructor(private readonly info: DebugInfo | undefined) {}

  /** The guest ran: every handle given out is void. */
  reset(): void {
    this.refs.reset();
  }

  /** A frame's scopes: its source variables if any, then the register groups (a caller's own registers only). */
  scopes(target: DebugTarget | undefined, frameId: number): DebugProtocol.Scope[] {
    const { vcpu, frame } = DebugTarget.frameRef(frameId);
    const names: (ScopeName | SourceScope)[] = [];
    const f = target?.frame(vcpu, frame);
    if (f && this.info?.localsAt(f.scopePc, f.inline?.depth).length) names.push('Locals');
    if (this.info?.hasGlobals()) names.push('Globals');
    names.push(...(frame === 0 ? REGISTER_GROUPS : (['Registers'] as const)));
    return names.map((s) => {
      const sc = new Scope(s, this.refs.create({ scope: s, vcpu, frame }), !['Locals', 'Registers', 'System'].includes(s)) as DebugProtocol.Scope;
      if (s === 'Locals') sc.presentationHint = 'locals';
      if (s === 'Registers') sc.presentationHint = 'registers';
      return sc;
    });
  }

  variables(target: DebugTarget, ref: number): DebugProtocol.Variable[] {
    const r = this.refs.get(ref);
    if (typeof r === 'function') return r();
    if (!r) return [];
    const scope = r.scope;
    if (isSource(scope)) return this.sourceVariables(target, scope, r.vcpu, r.frame);
    return scopeVariables(scope, target.snapshot(r.vcpu, r.frame), (f) => this.refs.create(f));
  }

  /** Changes a source variable (any frame) or a register (the innermost frame). */
  set(target: DebugTarget, ref: number, name: string, value: string): { body: DebugProtocol.SetVariableResponse['body']; changed: Changed } {
    const r = this.refs.get(ref);
    if (!r || typeof r === 'function') throw new GuestError(`${name} cannot be changed here`);
    const scope = r.scope;
    if (isSource(scope)) {
      const v = setValue(name, value, target.evalContext(r.vcpu, r.frame), { allowAssign: true });
      target.invalidate();
      const memory = v.address !== undefined ? { address: v.address, size: v.size ?? 1 } : undefined;
      return { body: { value: v.value, type: v.type, variablesReference: this.childrenOf(v) }, changed: { invalidated: ['variables'], memory } };
    }
    if (r.frame !== 0) throw new GuestError(`${name} cannot be changed here`);
    // The client keeps its references after a change: the target drops cached values, not the handles.
    target.writeRegister(r.vcpu, scope, name, parseRegisterValue(value));
    const now = scopeVariables(scope, target.snapshot(r.vcpu, 0), (f) => this.refs.create(f)).find((x) => x.name === name);
    return { body: { value: now?.value ?? value, variablesReference: now?.variablesReference ?? 0 }, changed: { invalidated: ['variables', 'stacks'] } };
  }

  /** An expression's value as the Watch view, the hover or the console shows it. */
  evaluated(r: EvalResult): DebugProtocol.EvaluateResponse['body'] {
    return {
      result: r.value, type: r.type, memoryReference: r.memoryReference,
      variablesReference: this.childrenOf(r), indexedVariables: r.indexed ? r.childCount : undefined,
    };
  }

  /** What can be watched for a name in the Variables or Watch view: only memory can. */
  dataBreakpointInfo(target: DebugTarget | undefined, args: DebugProtocol.DataBreakpointInfoArguments, stoppedVcpu: number): DebugProtocol.DataBreakpointInfoResponse['body'] {
    const none = (description: string) => ({ dataId: null, description });
    const accessTypes: DebugProtocol.DataBreakpointAccessType[] = ['write', 'readWrite'];
    try {
      if (args.asAddress) {
        const address = BigInt(args.name.trim());
        const bytes = args.bytes ?? 4;
        return { dataId: dataId(address, bytes, `0x${address.toString(16)}`), description: `${bytes} bytes at 0x${address.toString(16)}`, accessTypes };
      }
      if (!target) return none('the guest must be stopped to set a data breakpoint');
      const ref = args.variablesReference !== undefined ? this.refs.get(args.variablesReference) : undefined;
      if (ref && typeof ref !== 'function' && !isSource(ref.scope)) return none('registers cannot be watched: only memory can');
      const { vcpu, frame } = args.frameId !== undefined ? DebugTarget.frameRef(args.frameId) : { vcpu: stoppedVcpu, frame: 0 };
      const r = evaluate(args.name, target.evalContext(vcpu, frame));
      if (r.address === undefined || !r.size) return none(`${args.name} is not in memory`);
      return { dataId: dataId(r.address, r.size, args.name), description: `${args.name} (${r.size} bytes at 0x${r.address.toString(16)})`, accessTypes };
    } catch (e) {
      return none((e as Error).message);
    }
  }

  /** The Locals or Globals scope of a frame, each variable evaluated in the frame's context. */
  private sourceVariables(target: DebugTarget, scope: SourceScope, vcpu: number, frame: number): DebugProtocol.Variable[] {
    const f = target.frame(vcpu, frame);
    const vars = scope === 'Locals' ? (f && this.info?.localsAt(f.scopePc, f.inline?.depth)) ?? [] : (this.info?.globals() ?? []).slice(0, 1000);
    const ctx = target.evalContext(vcpu, frame);
    const seen = new Set<string>();
    return vars.filter((v) => !seen.has(v.name) && seen.add(v.name)).map((v) => {
      try {
        return this.variable({ ...evaluate(v.name, ctx), name: v.name, evaluateName: v.name });
      } catch (e) {
        return { name: v.name, value: `<${(e as Error).message.replace(new RegExp(`^${v.name}: `), '')}>`, variablesReference: 0 };
      }
    });
  }

  private variable(r: EvalResult): DebugProtocol.Variable {
    return {
      name: r.name ?? '', value: r.value, type: r.type, memoryReference: r.memoryReference, evaluateName: r.evaluateName,
      variablesReference: this.childrenOf(r), indexedVariables: r.indexed ? r.childCount : undefined,
    };
  }

  private childrenOf(r: EvalResult): number {
    return r.childCount ? this.refs.create(() => r.children!().map((c) => this.variable(c))) : 0;
  }
}
