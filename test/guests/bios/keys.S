/* Reads keys with int 16h until Enter, printing each on COM1 as "key SSAA" (scan code, ASCII):
   the first with AH=00h (which waits in the BIOS, asleep, until one comes), then AH=01h in a
   `hlt` loop until the next is there ("peek SSAA", ZF clear), then AH=00h for the rest; last the
   shift flags (AH=02h, "flags FF"). The keys reach the BIOS through the keyboard controller and
   its IRQ 1 handler. Exits 0x16. */
#include "../include/real-mode-start.inc"
#include "serial.inc"
        real_mode_start
        mov %ax, %ss
        mov $0x7c00, %sp
        sti
        xor %ah, %ah
        int $0x16
        call report
1:      mov $0x01, %ah
        int $0x16
        jnz 2f
        hlt
        jmp 1b
2:      push %ax
        mov $peek, %si
        call puts
        pop %ax
        call puthex16
        mov $'\n', %al
        call putc
next:   xor %ah, %ah
        int $0x16
        call report
        cmp $0x0d, %al
        jne next
        mov $0x02, %ah
        int $0x16
        mov $flags, %si
        call puts
        call puthex8
        mov $0x16, %al
        out %al, $0xf4
        hlt
report: push %ax
        mov $key, %si
        call puts
        pop %ax
        call puthex16
        push %ax
        mov $'\n', %al
        call putc
        pop %ax
        ret
        serial_routines
peek:   .asciz "peek "
key:    .asciz "key "
flags:  .asciz "flags "
        .org 510
        .byte 0x55, 0xaa
