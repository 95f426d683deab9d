// The PC keyboard controller (i8042) at 0x60 (data) and 0x64 (status/command), IRQ 1, with a
// PS/2 keyboard behind it, and an aux (mouse) port with nothing plugged in: its loopback (0xD3)
// answers on it (status bit 5, IRQ 12), and a byte sent to the mouse (0xD4) gets the controller's
// answer for a device that never replied (0xFE with the timeout bit). A kernel so finds the port
// and the missing mouse at once: without the loopback, Linux's probe waited out its timeouts,
// about 1.8 s of every boot in the test VM.
// Bytes reach the guest one per read of port 0x60: the output buffer holds one, the status
// register's bit 0 says so, and IRQ 1 is raised while it is full and the command byte enables
// it; after each read the line drops and, with more bytes waiting, rises again, so the PIC sees
// an edge per byte. Commands complete at once: the input buffer (status bit 1) is never full.
// Pulse-reset (0xFE, or any 0xF0-0xFF command with bit 0 clear) and an output-port write with
// the reset bit clear stop the machine with a reset, as the former reset-only device did.
import type { DeviceHost, PioDevice } from './bus.js';
import { chordBytes, parseChord, textChords, type Chord } from './scancodes.js';

export const KBD_DATA_PORT = 0x60;
export const KBD_STATUS_PORT = 0x64;
export const KBD_IRQ = 1;
export const AUX_IRQ = 12;

export const STATUS = { obf: 0x01, ibf: 0x02, system: 0x04, command: 0x08, unlocked: 0x10, auxObf: 0x20, timeout: 0x40 } as const;
export const CMDBYTE = { kbdIrq: 0x01, auxIrq: 0x02, system: 0x04, kbdDisabled: 0x10, auxDisabled: 0x20, translate: 0x40 } as const;
const OUTPORT_RESET = 0x01;
const OUTPORT_A20 = 0x02;
/** Keyboard replies. */
const ACK = 0xfa, RESEND = 0xfe, BAT_OK = 0xaa, ECHO = 0xee;
/** What the controller puts in the output buffer, with the timeout bit, when the mouse never answers. */
const NO_DEVICE = 0xfe;
/** Bytes held for the guest beyond the output buffer (typed text can be long). */
const QUEUE_LIMIT = 1 << 16;

/**
 * Set 2 → set 1 for the keyboard's replies, as the controller translates them: the identify
 * reply's 0x83 and the scan code set numbers (replies 0xFA, 0xAA, 0xEE, 0xFE, 0xAB pass as they are).
 */
function translateSet2(b: number): number {
  return SET2_TO_SET1.get(b) ?? b;
}
const SET2_TO_SET1 = new Map<number, number>([[0x83, 0x41], [0x01, 0x43], [0x02, 0x41], [0x03, 0x3f]]);

export class I8042 implements PioDevice {
  readonly name = 'i8042';
  /** Bytes the controller itself answers with; served before the keyboard's. */
  private readonly ctrlQueue: number[] = [];
  /** Bytes from the keyboard (replies and scan codes), already in the set the guest reads. */
  private readonly kbdQueue: number[] = [];
  /** Bytes on the aux port, with their status bits: loopback, and the timeouts of bytes sent to the absent mouse. */
  private readonly auxQueue: { byte: number; status: number }[] = [];
  private out = 0;
  private outFull = false;
  /** The status bits that go with the byte in the output buffer: auxObf, timeout. */
  private outStatus = 0;
  private kbdIrqLevel = false;
  private auxIrqLevel = false;
  private commandByte = CMDBYTE.kbdIrq | CMDBYTE.system | CMDBYTE.translate;
  private outputPort = OUTPORT_RESET | OUTPORT_A20;
  /** Status bit 3: the last write went to 0x64. */
  private lastWasCommand = false;
  /** A controller command waiting for its data byte on 0x60. */
  private pendingCtrl = 0;
  /** A keyboard command waiting for its parameter byte. */
  private pendingKbd = 0;
  private readonly ram = new Uint8Array(32);
  private scanning = true;
  private scanSet: 1 | 2 | 3 = 2;
  private leds = 0;
  private lastKbdByte = 0;

  constructor(private readonly host: DeviceHost, private readonly vcpu: () => number = () => 0) {}

  // --- keys from the user --------------------------------------------------------------------

  /** Presses and releases each chord in turn: "a", "A", "Enter", "Up", "F1", "Ctrl+C", "Ctrl+Alt+Delete". */
  pressKeys(...chords: string[]): void {
    this.strokes(chords.map(parseChord));
  }

  /** Types text: ASCII, \n Enter, \b Backspace, \t Tab, \x1b Escape, {Name} a named key or chord. */
  typeText(text: string): void {
    this.strokes(textChords(text));
  }

  /** The scan codes the guest will read for these chords now (set 1 unless it chose otherwise). */
  private strokes(chords: Chord[]): void {
    if (!this.scanning) return;
    const translated = (this.commandByte & CMDBYTE.translate) !== 0;
    const set = translated || this.scanSet === 1 ? 1 : 2;
    for (const c of chords) this.fromKeyboard(chordBytes(c, set));
  }

  /** Whether key strokes are waiting that the guest has not read yet. */
  get pending(): number {
    return this.kbdQueue.length + this.ctrlQueue.length + this.auxQueue.length + (this.outFull ? 1 : 0);
  }

  // --- ports ---------------------------------------------------------------------------------

  read(port: number, _size = 1): number {
    if (port === KBD_STATUS_PORT) return this.status();
    // An empty buffer reads the last byte again, as the real one does.
    const v = this.out;
    if (this.outFull) {
      this.outFull = false;
      this.updateIrq();
      this.refill();
    }
    return v;
  }

  write(port: number, _size: number, value: number): void {
    value &= 0xff;
    if (port === KBD_STATUS_PORT) {
      this.lastWasCommand = true;
      this.controllerCommand(value);
    } else {
      this.lastWasCommand = false;
      this.dataWrite(value);
    }
  }

  private status(): number {
    return (this.outFull ? STATUS.obf : 0) | (this.commandByte & CMDBYTE.system ? STATUS.system : 0) |
      (this.lastWasCommand ? STATUS.command : 0) | STATUS.unlocked | (this.outFull ? this.outStatus : 0);
  }

  private controllerCommand(c: number): void {
    this.pendingCtrl = 0;
    if (c === 0x20) return this.reply(this.commandByte);
    if (c > 0x20 && c < 0x40) return this.reply(this.ram[c & 0x1f]);
    if ((c >= 0x60 && c < 0x80) || c === 0xd1 || c === 0xd2 || c === 0xd3 || c === 0xd4) {
      this.pendingCtrl = c;
      return;
    }
    if (c >= 0xf0) {
      // Pulse output lines; bit 0 clear pulses the CPU reset line.
      if (!(c & 1)) this.host.stop({ kind: 'reset', vcpu: this.vcpu(), how: `port 0x64 command 0x${c.toString(16).toUpperCase()}` });
      return;
    }
    switch (c) {
      case 0xa7: this.commandByte |= CMDBYTE.auxDisabled; return;
      case 0xa8: this.commandByte &= ~CMDBYTE.auxDisabled; return;
      case 0xa9: return this.reply(0x00);
      case 0xaa:
        this.commandByte |= CMDBYTE.system;
        return this.reply(0x55);
      case 0xab: return this.reply(0x00);
      case 0xad: this.commandByte |= CMDBYTE.kbdDisabled; return;
      case 0xae:
        this.commandByte &= ~CMDBYTE.kbdDisabled;
        this.refill();
        return;
      case 0xc0: return this.reply(0xbf);
      case 0xd0: return this.reply(this.outputPort);
      case 0xdd: this.outputPort &= ~OUTPORT_A20; return;
      case 0xdf: this.outputPort |= OUTPORT_A20; return;
      case 0xe0: return this.reply(0x00);
    }
  }

  private dataWrite(v: number): void {
    const c = this.pendingCtrl;
    this.pendingCtrl = 0;
    if (c === 0x60) {
      this.commandByte = v;
      this.refill();
      this.updateIrq();
      return;
    }
    if (c > 0x60 && c < 0x80) { this.ram[c & 0x1f] = v; return; }
    if (c === 0xd1) {
      this.outputPort = v;
      if (!(v & OUTPORT_RESET)) this.host.stop({ kind: 'reset', vcpu: this.vcpu(), how: 'port 0x64 command 0xD1 (output port reset bit clear)' });
      return;
    }
    if (c === 0xd2) { this.fromKeyboard([v]); return; }
    if (c === 0xd3) return this.fromAux(v, STATUS.auxObf);
    if (c === 0xd4) return this.fromAux(NO_DEVICE, STATUS.auxObf | STATUS.timeout);
    this.keyboardCommand(v);
  }

  private keyboardCommand(v: number): void {
    const param = this.pendingKbd;
    this.pendingKbd = 0;
    if (param) {
      if (param === 0xed) this.leds = v & 7;
      if (param === 0xf0) {
        if (v === 0) return this.kbdReply(ACK, this.scanSet);
        if (v >= 1 && v <= 3) this.scanSet = v as 1 | 2 | 3;
      }
      return this.kbdReply(ACK);
    }
    switch (v) {
      case 0xed: case 0xf0: case 0xf3:
        this.pendingKbd = v;
        return this.kbdReply(ACK);
      case 0xee: return this.kbdReply(ECHO);
      case 0xf2: return this.kbdReply(ACK, 0xab, 0x83);
      case 0xf4:
        this.scanning = true;
        return this.kbdReply(ACK);
      case 0xf5:
        this.scanning = false;
        this.kbdQueue.length = 0;
        return this.kbdReply(ACK);
      case 0xf6: return this.kbdReply(ACK);
      case 0xfe: return this.kbdReply(this.lastKbdByte);
      case 0xff:
        this.scanning = true;
        this.scanSet = 2;
        this.kbdQueue.length = 0;
        return this.kbdReply(ACK, BAT_OK);
      default: return this.kbdReply(RESEND);
    }
  }

  /** LEDs as the guest last set them: bit 0 scroll, 1 num, 2 caps lock. */
  get ledState(): number {
    return this.leds;
  }

  private kbdReply(...bytes: number[]): void {
    this.lastKbdByte = bytes[bytes.length - 1];
    const translated = (this.commandByte & CMDBYTE.translate) !== 0;
    this.fromKeyboard(translated ? bytes.map(translateSet2) : bytes);
  }

  private reply(b: number): void {
    this.ctrlQueue.push(b);
    this.refill();
  }

  private fromAux(byte: number, status: number): void {
    if (this.auxQueue.length < QUEUE_LIMIT) this.auxQueue.push({ byte, status });
    this.refill();
  }

  private fromKeyboard(bytes: number[]): void {
    for (const b of bytes) {
      if (this.kbdQueue.length >= QUEUE_LIMIT) break;
      this.kbdQueue.push(b);
    }
    this.refill();
  }

  /** Moves the next byte into an empty output buffer and raises its port's IRQ (1 or 12) for it. */
  private refill(): void {
    if (!this.outFull) {
      this.outStatus = 0;
      if (this.ctrlQueue.length) this.out = this.ctrlQueue.shift()!;
      else if (this.auxQueue.length) ({ byte: this.out, status: this.outStatus } = this.auxQueue.shift()!);
      else if (this.kbdQueue.length && !(this.commandByte & CMDBYTE.kbdDisabled)) this.out = this.kbdQueue.shift()!;
      else return;
      this.outFull = true;
    }
    this.updateIrq();
  }

  private updateIrq(): void {
    const fromAux = (this.outStatus & STATUS.auxObf) !== 0;
    const kbd = this.outFull && !fromAux && (this.commandByte & CMDBYTE.kbdIrq) !== 0;
    const aux = this.outFull && fromAux && (this.commandByte & CMDBYTE.auxIrq) !== 0;
    if (kbd !== this.kbdIrqLevel) this.host.setIrq(KBD_IRQ, (this.kbdIrqLevel = kbd));
    if (aux !== this.auxIrqLevel) this.host.setIrq(AUX_IRQ, (this.auxIrqLevel = aux));
  }
}
