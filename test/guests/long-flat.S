/* A flat 64-bit guest entered by kvmdbg in long mode at 0x100000 (--mode long). It counts in
   memory, writes the counter to a watched variable, prints through COM1 and exits with 0x2a. */
#include "include/com1-puts.inc"
        .code64
        .globl _start
_start:
        mov $5, %ecx
        xor %eax, %eax
loop:   add $3, %eax            /* step target */
        mov %eax, counter(%rip)
        dec %ecx
        jnz loop
        .globl after_loop
after_loop:
        mov counter(%rip), %ebx /* a read of the watched variable */
        lea msg(%rip), %rsi
        com1_puts
        mov $0x2a, %al
        out %al, $0xf4
        hlt
msg:    .asciz "long mode ok\n"
        .balign 8
        .globl counter
counter: .quad 0
