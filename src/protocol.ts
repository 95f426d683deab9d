// kvmdbg's own DAP events and custom requests (kvm.*), typed once for both sides: the adapter
// (src/dap) sends and answers them, the extension (src/extension) follows and asks. Values that may
// exceed 2^53 travel as 0x-hex strings. No import: both sides build on this file alone.

/** Events the adapter sends beside DAP's own. */
export const KvmEvent = {
  /** Once per launch: which KVM runs the guest (body: HostBody). */
  host: 'kvm.host',
  /** When a vCPU's CPU mode changed at a stop (body: ModeBody). */
  mode: 'kvm.mode',
  /** The guest's COM1 output where launch.json says serial: "terminal" (body: SerialBody). */
  serial: 'kvm.serial',
} as const;

/** Custom requests the adapter answers. */
export const KvmRequest = {
  /** Bytes typed for COM1 (args: SerialInputArgs). */
  serialInput: 'kvm.serialInput',
  /** The host, as the kvm.host event told it (answer: HostBody, or nothing before a launch). */
  hostInfo: 'kvm.hostInfo',
  /** A vCPU's CPU mode (args: VcpuArgs; answer: { mode }). */
  cpuMode: 'kvm.cpuMode',
  /** Decoded registers, segments, GDT and IDT (args: VcpuArgs; answer: RegisterPanelData). */
  registerPanel: 'kvm.registerPanel',
  /** A page walk of a linear address (args: TranslateArgs; answer: TranslateData). */
  translate: 'kvm.translate',
} as const;

export interface HostBody {
  /** kvm_pvm, vmx, svm or unknown. */
  kind: string;
  /** For people: the kind, what it runs under, and how breakpoints work there. */
  label: string;
}

export interface ModeBody {
  vcpu: number;
  /** 'real mode', 'long mode (64-bit)', ... */
  mode: string;
}

export interface SerialBody {
  /** The bytes, base64. */
  data: string;
}

export interface SerialInputArgs {
  /** The bytes, base64. */
  data: string;
}

export interface VcpuArgs {
  /** Default: the vCPU of the last stop. */
  vcpu?: number;
}

export interface TranslateArgs extends VcpuArgs {
  /** "0x..." or decimal. */
  address: string;
}

export interface PanelField {
  name: string;
  description: string;
  value: string;
  set: boolean;
  text: string;
  lsb: number;
  width: number;
  valueName?: string;
}

export interface PanelRegister {
  name: string;
  value: string;
  fields: PanelField[];
}

export interface PanelSegment {
  name: string;
  selector: string;
  base: string;
  limit: string;
  typeName: string;
  text: string;
  attributes: PanelField[];
}

export interface PanelGdtEntry {
  index: number;
  selector: number;
  raw: string;
  rawHi?: string;
  size: number;
  kind: string;
  typeName: string;
  base?: string;
  limit?: number;
  dpl: number;
  present: boolean;
  s: boolean;
  l: boolean;
  db: boolean;
  g: boolean;
  avl: boolean;
  accessed: boolean;
  text: string;
}

export interface PanelIdtEntry {
  vector: number;
  selector: number;
  offset: string;
  linear?: number;
  gateType: string;
  bits?: number;
  typeName: string;
  dpl: number;
  present: boolean;
  ist?: number;
  exception?: string;
  raw: string;
  text: string;
}

export interface RegisterPanelData {
  vcpu: number;
  mode: string;
  cpl: number;
  paging: string;
  rip: string;
  registers: PanelRegister[];
  control?: Record<string, string>;
  segments: PanelSegment[];
  gdt: { base: string; limit: string; entries: PanelGdtEntry[]; unreadable: boolean };
  idt: { base: string; limit: string; entries: PanelIdtEntry[]; unreadable: boolean };
}

export interface WalkLevelData {
  name: string;
  index: number;
  entryAddress: number | string;
  entry: string;
  present: boolean;
  flags: string[];
}

export interface TranslateData {
  ok: boolean;
  linear: string;
  physical?: number | string;
  pageSize?: number;
  mode?: string;
  writable?: boolean;
  user?: boolean;
  executable?: boolean;
  levels: WalkLevelData[];
  reason?: string;
}
