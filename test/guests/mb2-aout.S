/* A Multiboot2 kernel as a flat binary: the address tag says where it loads (load_addr = _start,
   up to _edata, .bss to _end), the entry address tag where it starts. Also carries an unknown
   tag marked optional, which a loader must skip. Checks EAX and exits with 0x2a. */
#include "include/multiboot.inc"
        .code32
        .text
        .globl _start
_start: jmp entry
        multiboot2_header
        multiboot2_address_tags entry
        .balign 8
        .short 0x7777, 1                /* unknown, optional */
        .long 8
        multiboot2_header_end
        .globl entry
entry:
        cmp $0x36D76289, %eax
        jne fail
        mov $0x2a, %al
        out %al, $0xf4
        hlt
fail:   mov $0x13, %al
        out %al, $0xf4
        hlt
        .data
        .globl value
value:  .ascii "MB2A"
        .bss
        .skip 4096
