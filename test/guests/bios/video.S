/* int 10h in its forms, on the text screen test/bios.test.ts reads back from 0xB8000: mode set,
   teletype (CR, LF, BS), set cursor, write char+attribute CX times (09h) and char only (0Ah),
   scroll a window up (06h), write string with attribute (13h, AL=1), get cursor (03h) and get
   mode (0Fh) reported on COM1 as "cursor RRCC mode MMCC". Exits 0x10. */
#include "../include/real-mode-start.inc"
#include "serial.inc"
        real_mode_start
        mov %ax, %es
        mov %ax, %ss
        mov $0x7c00, %sp
        mov $0x0003, %ax        /* mode 03h: clears the screen */
        int $0x10
        mov $msg, %si
1:      lodsb
        test %al, %al
        jz 2f
        mov $0x0e, %ah
        xor %bx, %bx
        int $0x10
        jmp 1b
2:      mov $0x02, %ah          /* cursor to row 5, column 10 */
        xor %bh, %bh
        mov $0x050a, %dx
        int $0x10
        mov $0x0958, %ax        /* 'X' in yellow on blue, 3 times */
        mov $0x001e, %bx
        mov $3, %cx
        int $0x10
        mov $0x02, %ah          /* row 6, column 0: 'y' twice, attribute kept */
        mov $0x0600, %dx
        int $0x10
        mov $0x0a79, %ax
        mov $2, %cx
        int $0x10
        mov $0x0600, %ax        /* clear rows 10-11, columns 20-29 to white on red */
        mov $0x4f00, %bx
        mov $0x0a14, %cx
        mov $0x0b1d, %dx
        int $0x10
        mov $0x1301, %ax        /* "int13 str" in bright green at row 15, column 3 */
        mov $0x000a, %bx
        mov $(str_end - str), %cx
        mov $0x0f03, %dx
        mov $str, %bp
        int $0x10
        mov $0x03, %ah
        xor %bh, %bh
        int $0x10
        mov $cursor, %si
        call puts
        mov %dx, %ax
        call puthex16
        mov $0x0f, %ah
        int $0x10
        push %ax
        mov $mode, %si
        call puts
        pop %ax
        call puthex16
        mov $'\n', %al
        call putc
        mov $0x10, %al
        out %al, $0xf4
        hlt
        serial_routines
msg:    .asciz "Hello, BIOS!\r\nline 2X\bx"
str:    .ascii "int13 str"
str_end:
cursor: .asciz "cursor "
mode:   .asciz " mode "
        .org 510
        .byte 0x55, 0xaa
