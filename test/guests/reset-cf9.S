/* A boot sector that resets the machine through the reset control register: 0x06 to port 0xCF9. */
        .code16
        .globl _start
_start:
        cli
        mov $0xcf9, %dx
        mov $0x06, %al
        out %al, %dx
        /* Not reached. */
        mov $0x7f, %al
        out %al, $0xf4
        hlt
        .org 510
        .byte 0x55, 0xaa
