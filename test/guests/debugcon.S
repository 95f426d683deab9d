/* A boot sector that writes to the debug console (port 0xE9), then exits with value 0x12. */
#include "include/real-mode-start.inc"
        real_mode_start
        mov $msg, %si
1:      lodsb
        test %al, %al
        jz 2f
        out %al, $0xe9
        jmp 1b
2:      mov $0x12, %al
        out %al, $0xf4
        hlt
msg:    .asciz "debugcon says hi\n"
        .org 510
        .byte 0x55, 0xaa
