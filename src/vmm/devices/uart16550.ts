// A 16550A UART (COM1 at 0x3F8, IRQ 4). Transmission is instant: LSR always reports the
// transmitter empty, so a polling guest never waits. Output is batched and handed to the sink
// when the monitor flushes (at every stop and every time slice), not a syscall per byte.
import type { DeviceHost, PioDevice } from './bus.js';

export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;

const RBR_THR_DLL = 0, IER_DLM = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

const LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;
const IER_RDA = 0x01, IER_THRE = 0x02, IER_RLS = 0x04, IER_MS = 0x08;
const IIR_NONE = 0x01, IIR_MS = 0x00, IIR_THRE = 0x02, IIR_RDA = 0x04, IIR_RLS = 0x06;
const LCR_DLAB = 0x80;
const MCR_LOOP = 0x10;
const RX_LIMIT = 4096;

export class Uart16550 implements PioDevice {
  readonly name = 'uart16550';
  private dll = 0x0c; // 9600 baud, as a BIOS leaves it
  private dlm = 0;
  private ier = 0;
  private lcr = 0x03;
  private mcr = 0;
  private scr = 0;
  private fcr = 0;
  private lsrErrors = 0;
  private msrDelta = 0;
  private threPending = true;
  private readonly rx: number[] = [];
  private out: number[] = [];
  private irqLevel = false;

  constructor(
    private readonly base: number,
    private readonly irq: number,
    private readonly host: DeviceHost,
    private readonly sink: (bytes: Buffer) => void,
  ) {}

  /** Bytes typed by the user, for the guest to read from RBR. */
  pushInput(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (this.rx.length >= RX_LIMIT) {
        this.lsrErrors |= LSR_OE;
        break;
      }
      this.rx.push(b);
    }
    this.updateIrq();
  }

  /** A byte for the sink, buffered until the next flush (the debug console's too, where it shares the sink). */
  emit(byte: number): void {
    this.out.push(byte);
    if (this.out.length >= 4096) this.flush();
  }

  /** Hands buffered output to the sink. */
  flush(): void {
    if (this.out.length === 0) return;
    const b = Buffer.from(this.out);
    this.out = [];
    this.sink(b);
  }

  read(port: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (port - this.base) {
      case RBR_THR_DLL: {
        if (dlab) return this.dll;
        const v = this.rx.length ? this.rx.shift()! : 0;
        this.updateIrq();
        return v;
      }
      case IER_DLM:
        return dlab ? this.dlm : this.ier;
      case IIR_FCR: {
        const id = this.pendingInterrupt();
        // Reading IIR while it reports THRE acknowledges that interrupt.
        if (id === IIR_THRE) {
          this.threPending = false;
          this.updateIrq();
        }
        return id | (this.fcr & 1 ? 0xc0 : 0);
      }
      case LCR:
        return this.lcr;
      case MCR:
        return this.mcr;
      case LSR: {
        const v = (this.rx.length ? LSR_DR : 0) | LSR_THRE | LSR_TEMT | this.lsrErrors;
        this.lsrErrors = 0;
        this.updateIrq();
        return v;
      }
      case MSR: {
        let status: number;
        if (this.mcr & MCR_LOOP) {
          // Loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
          const m = this.mcr;
          status = ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4);
        } else {
          status = 0xb0; // CTS, DSR, DCD: a cable with a terminal on it
        }
        const v = status | this.msrDelta;
        this.msrDelta = 0;
        this.updateIrq();
        return v;
      }
      case SCR:
        return this.scr;
    }
    return 0xff;
  }

  write(port: number, _size: number, value: number): void {
    value &= 0xff;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (port - this.base) {
      case RBR_THR_DLL:
        if (dlab) {
          this.dll = value;
        } else if (this.mcr & MCR_LOOP) {
          this.pushInput(Uint8Array.of(value));
        } else {
          this.emit(value);
        }
        if (!dlab) {
          this.threPending = true;
          this.updateIrq();
        }
        return;
      case IER_DLM:
        if (dlab) {
          this.dlm = value;
        } else {
          // Enabling THRE with an empty transmitter raises the interrupt at once (as on a 16550).
          if (!(this.ier & IER_THRE) && value & IER_THRE) this.threPending = true;
          this.ier = value & 0x0f;
          this.updateIrq();
        }
        return;
      case IIR_FCR:
        if (value & 0x02) this.rx.length = 0;
        this.fcr = value & 0xc9;
        this.updateIrq();
        return;
      case LCR:
        this.lcr = value;
        return;
      case MCR: {
        const changed = (this.mcr ^ value) & 0x0f;
        this.mcr = value & 0x1f;
        // Loopback deltas: RTS->DCTS, DTR->DDSR, OUT1 falling->TERI (RI's trailing edge), OUT2->DDCD.
        if (this.mcr & MCR_LOOP && changed) this.msrDelta |= ((changed & 0x02) >> 1) | ((changed & 0x01) << 1) | (changed & ~value & 0x04) | (changed & 0x08);
        this.updateIrq();
        return;
      }
      case SCR:
        this.scr = value;
        return;
    }
  }

  /** The IIR identification of the highest-priority pending interrupt, or IIR_NONE. */
  private pendingInterrupt(): number {
    if (this.ier & IER_RLS && this.lsrErrors) return IIR_RLS;
    if (this.ier & IER_RDA && this.rx.length) return IIR_RDA;
    if (this.ier & IER_THRE && this.threPending) return IIR_THRE;
    if (this.ier & IER_MS && this.msrDelta) return IIR_MS;
    return IIR_NONE;
  }

  private updateIrq(): void {
    const level = this.pendingInterrupt() !== IIR_NONE;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.host.setIrq(this.irq, level);
    }
  }
}
