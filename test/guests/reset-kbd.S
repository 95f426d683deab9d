/* A boot sector that resets the machine through the keyboard controller: 0xFE to port 0x64. */
        .code16
        .globl _start
_start:
        cli
        mov $0xfe, %al
        out %al, $0x64
        /* Not reached. */
        mov $0x7f, %al
        out %al, $0xf4
        hlt
        .org 510
        .byte 0x55, 0xaa
