/* A boot sector that enters 32-bit protected mode with an IDT of limit 0, then executes ud2 at
 * `fault`: #UD cannot be delivered (#GP), nor can #GP (#DF), nor #DF: a triple fault. */
#include "include/real-mode-start.inc"
        real_mode_start
        lgdtl gdtr
        lidtl idtr
        mov %cr0, %eax
        or $1, %eax
        mov %eax, %cr0
        ljmpl $0x08, $pm

        .code32
pm:     mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov $0x7c00, %esp
        .globl fault
fault:  ud2
        /* Not reached: the run must end on the triple fault above. */
        mov $0x7f, %al
        out %al, $0xf4
        hlt

        .p2align 3
gdt:    .quad 0
        .quad 0x00cf9a000000ffff        /* 0x08: 32-bit code, base 0, 4 GiB */
        .quad 0x00cf92000000ffff        /* 0x10: data, base 0, 4 GiB */
gdtr:   .word gdtr - gdt - 1
        .long gdt
idtr:   .word 0                         /* limit 0: no vector fits */
        .long 0

        .org 510
        .byte 0x55, 0xaa
