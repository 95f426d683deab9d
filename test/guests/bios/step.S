/* For stepping over and into int 10h in the debugger: teletype 'A' at before_int (stepped over:
   the next stop is after_int with the 'A' on the screen), then 'B' at second_int (stepped into:
   the stop is in the BIOS ROM's bios_int10). Exits 0x17. */
#include "../include/real-mode-start.inc"
        real_mode_start
        mov %ax, %ss
        mov $0x7c00, %sp
        mov $0x0e41, %ax
        xor %bx, %bx
        .globl before_int
before_int:
        int $0x10
        .globl after_int
after_int:
        mov $0x0e42, %ax
        .globl second_int
second_int:
        int $0x10
        mov $0x17, %al
        out %al, $0xf4
        hlt
        .org 510
        .byte 0x55, 0xaa
