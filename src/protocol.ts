// kvmdbg's own DAP events and custom requests (kvm.*), typed once for both sides: the adapter
// (src/dap) sends and answers them, the extension (src/extension) follows and asks. Values that may
// exceed 2^53 travel as 0x-hex strings. The register panel's bodies are src/x86's decodings as
// they travel (Wire<T>); those imports are types only, so the extension bundles no src/x86 code.
import type { DecodedField } from './x86/bits.js';
import type { GdtEntry, IdtEntry, SegmentDescription } from './x86/descriptors.js';
import type { PagingMode, Translation, WalkLevel } from './x86/pagewalk.js';

/** Events the adapter sends beside DAP's own. */
export const KvmEvent = {
  /** Once per launch: which KVM runs the guest (body: HostBody). */
  host: 'kvm.host',
  /** When a vCPU's CPU mode changed at a stop (body: ModeBody). */
  mode: 'kvm.mode',
  /** The guest's COM1 output where launch.json says serial: "terminal" (body: SerialBody). */
  serial: 'kvm.serial',
  /** The guest's VGA text screen changed: while it runs (at most 20 times a second) and at stops (body: ScreenBody). */
  screen: 'kvm.screen',
  /** At a stop or a history command, when the recorded history or the position in it changed (body: HistoryBody). */
  history: 'kvm.history',
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
  /** The whole text screen now (answer: ScreenBody with every row, or nothing before a launch). */
  screen: 'kvm.screen',
  /** Keys for the guest's keyboard (i8042), running or stopped (args: KeysArgs). */
  keys: 'kvm.keys',
  /** Expressions evaluated now, running or stopped, without disturbing the run (args: LiveWatchArgs; answer: LiveWatchBody). */
  liveWatch: 'kvm.liveWatch',
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

export interface HistoryBody {
  recording: boolean;
  /** Instructions recorded. */
  length: number;
  /** Where the vCPU is: 0 the start of the history, `length` the present. */
  position: number;
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

/** A value as JSON carries it: bigints become 0x-hex strings, at any depth. */
export type Wire<T> = T extends bigint ? string
  : T extends readonly (infer E)[] ? Wire<E>[]
  : T extends object ? { [K in keyof T]: Wire<T[K]> }
  : T;

/** A register bit field (bits.ts decodeField). */
export type PanelField = Wire<DecodedField>;

export interface PanelRegister {
  name: string;
  value: string;
  fields: PanelField[];
}

/** A segment register: its descriptor cache described (descriptors.ts describeSegment). */
export interface PanelSegment extends Wire<SegmentDescription> {
  name: string;
  selector: string;
  base: string;
  limit: string;
}

/** descriptors.ts decodeGdt's entries. */
export type PanelGdtEntry = Wire<GdtEntry>;

/** descriptors.ts decodeIdt's entries. */
export type PanelIdtEntry = Wire<IdtEntry>;

export interface RegisterPanelData {
  vcpu: number;
  mode: string;
  cpl: number;
  paging: PagingMode;
  rip: string;
  registers: PanelRegister[];
  control?: Record<string, string>;
  segments: PanelSegment[];
  gdt: { base: string; limit: string; entries: PanelGdtEntry[]; unreadable: boolean };
  idt: { base: string; limit: string; entries: PanelIdtEntry[]; unreadable: boolean };
}

/** One table entry read by a page walk (pagewalk.ts). */
export type WalkLevelData = Wire<WalkLevel>;

/** A page walk (pagewalk.ts walk): the translation, or how far it got and why it stopped. */
export type TranslateData =
  | ({ ok: true } & Wire<Translation>)
  | { ok: false; linear: string; mode: PagingMode; levels: WalkLevelData[]; reason: string };

/** One row of the text screen: its characters as Unicode (code page 437 decoded) and attributes. */
export interface ScreenRow {
  row: number;
  /** `cols` characters. */
  text: string;
  /** `cols` attribute bytes (VGA: foreground bits 0-3, background 4-6, bit 7 blink or bright background), base64. */
  attrs: string;
}

export interface ScreenBody {
  cols: number;
  rows: number;
  /** The rows that changed since the last kvm.screen event (every row in the first, and in the request's answer). */
  changed: ScreenRow[];
  cursor: { row: number; col: number; hidden: boolean };
  /** Attribute bit 7 blinks (true) or selects a bright background (false). */
  blink: boolean;
}

export interface KeysArgs {
  /** Text to type: ASCII, \n Enter, \b Backspace, \t Tab, \x1b Escape, {Name} a named key or chord ({Up}, {F1}, {Ctrl+C}). */
  text?: string;
  /** Key chords pressed and released in turn: "a", "A", "Enter", "Up", "F5", "Ctrl+C", "Ctrl+Alt+Delete". */
  keys?: string[];
}

/** At most this many expressions per kvm.liveWatch request (the rest are refused). */
export const LIVE_WATCH_MAX_EXPRESSIONS = 100;

export interface LiveWatchArgs extends VcpuArgs {
  /** C expressions as the Debug Console takes them (no assignments). */
  expressions: string[];
}

/** One expression's value (rendered as a watch shows it, aggregates as their summary), or why it has none. */
export type LiveWatchValue = { value: string; type?: string } | { error: string };

export interface LiveWatchBody {
  /** In the order of the expressions asked for. */
  values: LiveWatchValue[];
}
