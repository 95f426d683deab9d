/* A plain ELF64 guest (no Multiboot header), entered by kvmdbg in long mode at _start with the
   low memory identity-mapped. Checks its initialised data and that its 16 KiB .bss is zero,
   prints through COM1 and exits through isa-debug-exit with 0x64 (0x13 on failure). */
#include "include/com1-puts.inc"
        .code64
        .text
        .globl _start
_start:
        movabs $0x3436464c45, %rax      /* "ELF64" */
        cmp %rax, magic(%rip)
        jne fail
        lea bss_start(%rip), %rdi
        mov $(16384 / 8), %ecx
        xor %eax, %eax
        repe scasq
        jne fail
        lea msg(%rip), %rsi
        com1_puts
        mov $0x64, %al
        out %al, $0xf4
        hlt
fail:   mov $0x13, %al
        out %al, $0xf4
        hlt
        .section .rodata
msg:    .asciz "elf64 ok\n"
        .data
        .globl magic
        .balign 8
magic:  .quad 0x3436464c45
        .bss
        .globl bss_start
        .balign 16
bss_start:
        .skip 16384
        .globl bss_end
bss_end:
