/* A boot sector that says "spinning" on COM1, then spins forever at `spin`. */
#include "include/real-mode-start.inc"
#include "include/com1-puts.inc"
        real_mode_start
        mov $msg, %si
        com1_puts
        .globl spin
spin:   jmp spin
msg:    .asciz "spinning\n"
        .org 510
        .byte 0x55, 0xaa
