/* A plain ELF32 guest (no Multiboot header), entered by kvmdbg in 32-bit protected mode at
   _start. Checks its initialised data and that .bss is zero, prints through COM1 and exits
   through isa-debug-exit with 0x32 (0x13 on failure). */
#include "include/com1-puts.inc"
        .code32
        .text
        .globl _start
_start:
        cmpl $0x32334c45, magic         /* "EL32" in .data */
        jne fail
        mov $zeroed, %edi
        mov $1024, %ecx
        xor %eax, %eax
        repe scasl                      /* .bss must be all zero */
        jne fail
        mov $msg, %esi
        com1_puts
        mov $0x32, %al
        out %al, $0xf4
        hlt
fail:   mov $0x13, %al
        out %al, $0xf4
        hlt
        .section .rodata
msg:    .asciz "elf32 ok\n"
        .data
        .globl magic
magic:  .ascii "EL32"
        .bss
        .globl zeroed
zeroed: .skip 4096
