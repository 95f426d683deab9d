/* A boot sector that reads the CMOS clock as a BIOS's INT 1Ah does: waits for update-in-progress
   (status A bit 7) to clear, then prints "RTC CC YY-MM-DD HH:MM:SS bb hhll\n" on COM1: the
   century, year, month, day, hours, minutes and seconds registers as the hex of their BCD, status
   register B, and the extended memory size in KiB (0x18:0x17), then exits with 0x10. */
#include "../include/real-mode-start.inc"
#include "../include/puts-puthex8.inc"
        real_mode_start
        mov $0x7c00, %sp
        mov $0x0a, %al
1:      out %al, $0x70
        in $0x71, %al
        test $0x80, %al
        mov $0x0a, %al
        jnz 1b
        mov $msg, %si
        call puts
        mov $regs, %bx
2:      mov (%bx), %al
        cmp $0xff, %al
        je 3f
        mov 1(%bx), %cl                 /* separator after it */
        out %al, $0x70
        in $0x71, %al
        call puthex8
        mov %cl, %al
        call putc
        add $2, %bx
        jmp 2b
3:      mov $0x18, %al
        out %al, $0x70
        in $0x71, %al
        call puthex8
        mov $0x17, %al
        out %al, $0x70
        in $0x71, %al
        call puthex8
        mov $'\n', %al
        call putc
        mov $0x10, %al
        out %al, $0xf4
        hlt

        puts_puthex8
putc:   push %dx
        mov $0x3f8, %dx
        out %al, %dx
        pop %dx
        ret

msg:    .asciz "RTC "
/* register, the character printed after it; 0xFF ends */
regs:   .byte 0x32, ' ', 0x09, '-', 0x08, '-', 0x07, ' ', 0x04, ':', 0x02, ':', 0x00, ' ', 0x0b, ' ', 0xff
        .org 510
        .byte 0x55, 0xaa
