/* A boot sector that exercises every register of the 16550 at COM1 (0x3F8) from a table of
 * steps: W writes a register, R reads one and compares (value & mask) with what a 16550 gives.
 * The first R that differs prints "uart fail NN: read VV" on the debug console (port 0xE9, so a
 * UART left in loopback cannot swallow it) and exits with value NN, the check's number; the
 * test names the checks by those numbers. When every check passes, the guest prints "uart ok"
 * on COM1 and exits with value 0x50. */
#include "include/real-mode-start.inc"
#include "include/com1-puts.inc"
#include "include/puts-puthex8.inc"

        .set RBR, 0
        .set THR, 0
        .set DLL, 0
        .set IER, 1
        .set DLM, 1
        .set IIR, 2
        .set FCR, 2
        .set LCR, 3
        .set MCR, 4
        .set LSR, 5
        .set MSR, 6
        .set SCR, 7

        /* A step is 4 bytes: check number (0 = a write), register, value, mask. */
        .macro W reg, val
        .byte 0, \reg, \val, 0
        .endm
        .macro R num, reg, val, mask=0xff
        .byte \num, \reg, \val, \mask
        .endm

        real_mode_start
        mov %ax, %ss
        mov $0x7c00, %sp
        mov $steps, %si
next:   lodsb
        mov %al, %bl                    /* check number */
        lodsb
        mov $0x3f8, %dx
        add %al, %dl                    /* the register's port */
        lodsb
        mov %al, %bh                    /* value */
        lodsb
        mov %al, %cl                    /* mask */
        cmp $0xff, %bl
        je pass
        test %bl, %bl
        jnz check
        mov %bh, %al
        out %al, %dx
        jmp next
check:  in %dx, %al
        mov %al, %ch
        and %cl, %al
        cmp %bh, %al
        je next

fail:   mov $failmsg, %si
        call puts
        mov %bl, %al
        call puthex8
        mov $readmsg, %si
        call puts
        mov %ch, %al
        call puthex8
        mov $'\n', %al
        call putc
        mov %bl, %al
        out %al, $0xf4
        hlt

pass:   mov $okmsg, %si
        com1_puts
        mov $0x50, %al
        out %al, $0xf4
        hlt

/* puts, puthex8 and puthex4 (include/puts-puthex8.inc) print through putc, which must follow:
 * here it writes %al to the debug console. */
        puts_puthex8
putc:   out %al, $0xe9
        ret

failmsg: .asciz "uart fail "
readmsg: .asciz ": read "
okmsg:   .asciz "uart ok\n"

steps:
        /* Scratch register. */
        W SCR, 0x5a
        R 1, SCR, 0x5a
        W SCR, 0xa5
        R 2, SCR, 0xa5
        /* LCR reads back what was written. */
        W LCR, 0x1b
        R 3, LCR, 0x1b
        /* DLAB set: offsets 0 and 1 are the divisor latch, and read back. */
        W LCR, 0x83
        W DLL, 0x34
        W DLM, 0x12
        R 4, DLL, 0x34
        R 5, DLM, 0x12
        R 6, LCR, 0x83
        /* DLAB clear: offset 1 is IER again, untouched by the DLM write. */
        W LCR, 0x03
        R 7, LCR, 0x03
        R 8, IER, 0x00
        /* MCR: DTR, RTS, OUT2. */
        W MCR, 0x0b
        R 9, MCR, 0x0b
        /* MSR without loopback: CTS, DSR, DCD, as with a terminal on the line. */
        R 10, MSR, 0xb0
        /* IER keeps its low 4 bits. */
        W IER, 0xff
        R 11, IER, 0x0f
        W IER, 0x00
        R 12, IER, 0x00
        /* LSR with nothing received: THRE | TEMT. */
        R 13, LSR, 0x60
        /* IIR: FIFOs enabled (0xC0); no interrupt pending (bit 0) with IER = 0. */
        W FCR, 0x01
        R 14, IIR, 0xc1
        /* IER = THRE: the transmitter is empty, so IIR says THRE (id 2, bit 0 clear) ... */
        W IER, 0x02
        R 15, IIR, 0xc2
        /* ... and reading IIR acknowledged it. */
        R 16, IIR, 0xc1
        W IER, 0x00
        /* FIFOs off: no 0xC0. */
        W FCR, 0x00
        R 17, IIR, 0x01
        /* Loopback: a byte written to THR comes back in RBR, with LSR DR set until read. */
        W MCR, 0x10
        R 18, MSR, 0x00, 0xf0
        W THR, 0x5a
        R 19, LSR, 0x61
        R 20, RBR, 0x5a
        R 21, LSR, 0x60
        /* Received data available interrupt (id 4), gone once RBR is read. */
        W IER, 0x01
        W THR, 0xc3
        R 22, IIR, 0x04
        R 23, RBR, 0xc3
        R 24, IIR, 0x01
        W IER, 0x00
        /* Loopback MSR, one MCR output at a time: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
        R 25, MSR, 0x00, 0xf0           /* clears the deltas, whatever they were */
        W MCR, 0x12
        R 26, MSR, 0x10, 0xf0
        W MCR, 0x11
        R 27, MSR, 0x20, 0xf0
        W MCR, 0x14
        R 28, MSR, 0x40, 0xf0
        W MCR, 0x18
        R 29, MSR, 0x80, 0xf0
        W MCR, 0x1f
        R 30, MSR, 0xf0, 0xf0
        /* The delta bits: DCTS (bit 0) when CTS changes, DDSR (bit 1) when DSR changes, TERI
         * (bit 2) when RI goes from on to off, DDCD (bit 3) when DCD changes; reading MSR
         * clears them. */
        W MCR, 0x10                     /* all four off: every delta, TERI included */
        R 31, MSR, 0x0f
        R 32, MSR, 0x00
        W MCR, 0x12                     /* RTS on */
        R 33, MSR, 0x11
        R 34, MSR, 0x10
        W MCR, 0x11                     /* RTS off, DTR on */
        R 35, MSR, 0x23
        W MCR, 0x14                     /* DTR off, OUT1 on: RI rises, no TERI */
        R 36, MSR, 0x42
        W MCR, 0x18                     /* OUT1 off (TERI), OUT2 on */
        R 37, MSR, 0x8c
        /* Modem status interrupt (id 0) when IER allows it, gone once MSR is read. */
        W IER, 0x08
        W MCR, 0x19                     /* DTR on */
        R 38, IIR, 0x00
        R 39, MSR, 0xa2
        R 40, IIR, 0x01
        W IER, 0x00
        /* Out of loopback: MSR is the line's again, 0xB0 (once any deltas are read). */
        W MCR, 0x0b
        R 41, MSR, 0xb0, 0xf0
        R 42, MSR, 0xb0
        R 43, MCR, 0x0b
        R 44, LSR, 0x60
        .byte 0xff, 0, 0, 0

        .org 510
        .byte 0x55, 0xaa
