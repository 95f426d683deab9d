/* What int 15h, 12h, 11h and 1Ah tell: the E820 map ("e820 BASE LENGTH TYPE" per entry, 32-bit
   halves as hex), int 12h and 11h ("mem AX", "equip AX"), A20 (int 15h AX=2402h), int 15h
   AH=86h waiting 110 ms, and the int 1Ah tick count advancing across it ("ticks ok"). On COM1;
   exits 0x15. */
#include "../include/real-mode-start.inc"
#include "serial.inc"
        real_mode_start
        mov %ax, %es
        mov %ax, %ss
        mov $0x7c00, %sp
        xor %ebx, %ebx
1:      mov $0xe820, %eax
        mov $24, %ecx
        mov $0x534d4150, %edx
        mov $buf, %di
        int $0x15
        jc 2f
        mov $e820, %si
        call puts
        mov buf + 4, %eax
        call puthex32
        mov buf, %eax
        call puthex32
        mov $' ', %al
        call putc
        mov buf + 12, %eax
        call puthex32
        mov buf + 8, %eax
        call puthex32
        mov $' ', %al
        call putc
        mov buf + 16, %al
        call puthex8
        mov $'\n', %al
        call putc
        test %ebx, %ebx
        jnz 1b
2:      int $0x12
        push %ax
        mov $mem, %si
        call puts
        pop %ax
        call puthex16
        int $0x11
        push %ax
        mov $equip, %si
        call puts
        pop %ax
        call puthex16
        mov $0x2402, %ax
        int $0x15
        push %ax
        mov $a20, %si
        call puts
        pop %ax
        call puthex8
        mov $'\n', %al
        call putc
        xor %ah, %ah            /* ticks before */
        int $0x1a
        mov %dx, ticks
        sti
        mov $0x86, %ah          /* 110 ms = 0x1adb0 us */
        mov $0x0001, %cx
        mov $0xadb0, %dx
        int $0x15
        jc 3f
        xor %ah, %ah
        int $0x1a
        sub ticks, %dx
        cmp $1, %dx             /* at least one tick (55 ms) went by */
        jb 3f
        mov $tok, %si
        call puts
        mov $0x15, %al
        out %al, $0xf4
        hlt
3:      mov $tbad, %si
        call puts
        mov %dx, %ax
        call puthex16
        mov $0x7f, %al
        out %al, $0xf4
        hlt
        serial_routines
e820:   .asciz "e820 "
mem:    .asciz "mem "
equip:  .asciz "\nequip "
a20:    .asciz "\na20 "
tok:    .asciz "ticks ok\n"
tbad:   .asciz "ticks not advancing: "
        .balign 4
ticks:  .word 0
buf:    .fill 24
        .org 510
        .byte 0x55, 0xaa
