/* A flat 64-bit guest (boot.test.ts) run with 5 GiB of RAM: reads the qword the test wrote at
   0x1_2000_0000 (above 4 GiB, reached through kvmdbg's 1 GiB identity pages), prints it as 16
   hex digits and a newline through COM1, stores its complement at 0x1_2000_0008 and exits
   through isa-debug-exit with its low byte. */
#include "include/report-high-qword.inc"
        .code64
        .globl _start
_start:
        report_high_qword 0x120000000
