/* A flat 32-bit guest (boot.test.ts) entered in protected mode at 0x100000 with 5 GiB of RAM.
   It enters long mode itself with its own tables of 2 MiB pages (no 1 GiB pages needed):
   0..2 MiB (its code and stack) and the 2 MiB page at 0x1_2000_0000, above 4 GiB, both
   identity-mapped. It reads the qword the test wrote there, prints it as 16 hex digits and a
   newline through COM1, stores its complement at 0x1_2000_0008 and exits through
   isa-debug-exit with its low byte. */
#include "include/long-mode.inc"
#include "include/report-high-qword.inc"
        .set PML4, 0x20000              /* tables in free low memory, zeroed by the monitor */
        .set PDPT, 0x21000
        .set PD0, 0x22000
        .set PD4, 0x23000               /* 4 GiB .. 5 GiB */
        .set HIGH, 0x120000000
        .code32
        .globl _start
_start:
        movl $(PDPT | 3), PML4
        movl $(PD0 | 3), PDPT
        movl $(PD4 | 3), PDPT + 4 * 8
        movl $0x83, PD0                 /* 2 MiB page at 0: present, writable, PS */
        movl $(0x20000000 | 0x83), PD4 + 0x100 * 8   /* 2 MiB page at 0x1_2000_0000 ... */
        movl $1, PD4 + 0x100 * 8 + 4    /* ... bit 32 of its address in the high dword */
        prepare_long_mode PML4
        mov %eax, %cr0
        ljmp $0x08, $long64             /* kvmdbg's GDT has a 64-bit code segment at 0x08 */
        .code64
long64: report_high_qword HIGH
