/* A Multiboot 1 kernel in an ELF64 file, as 64-bit kernels often ship: GRUB (and kvmdbg) load its
   segments by physical address and enter it in 32-bit protected mode at e_entry, so the entry
   code is 32-bit; it checks EAX = 0x2BADB002 and exits through isa-debug-exit with 0x1c. */
#include "include/multiboot.inc"
        .section .multiboot, "a"
        multiboot1_header 0x00000002    /* memory information */
        .text
        .code32
        .globl _start
_start:
        cmp $0x2BADB002, %eax
        jne 1f
        mov $0x1c, %al
        out %al, $0xf4
        hlt
1:      mov $0x13, %al
        out %al, $0xf4
        hlt
        .data
        .globl value
value:  .quad 0x3436424d            /* "MB64" */
