/* A boot sector that halts with interrupts off: nothing can ever wake it. */
        .code16
        .globl _start
_start:
        cli
        xor %ax, %ax
        .globl halt
halt:   hlt
        jmp halt
        .org 510
        .byte 0x55, 0xaa
