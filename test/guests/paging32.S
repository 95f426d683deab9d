/* Probe (test/support/host-facts.ts paging32Fails): 32-bit protected mode turns paging on, 4 MiB
   pages (PSE), identity, then writes 0x21 to isa-debug-exit. kvm_pvm triple-faults at the mov to
   CR0 (README.md, Hosts). */
#include "include/paging32.inc"
        .code32
        .globl _start
_start: paging32_on pd
        mov $0x21, %al
        out %al, $0xf4
        hlt
        .balign 4096
pd:     .long 0x83
        .fill 1023, 4, 0
