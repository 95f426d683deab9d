/* A boot sector that prints through COM1 and exits through isa-debug-exit with value 0x21. */
#include "include/real-mode-start.inc"
        real_mode_start
        mov $msg, %si
1:      lodsb
        test %al, %al
        jz 2f
        mov $0x3f8, %dx
        out %al, %dx
        jmp 1b
2:      mov $0x21, %al
        out %al, $0xf4
        hlt
msg:    .asciz "hello from real mode\n"
        .org 510
        .byte 0x55, 0xaa
