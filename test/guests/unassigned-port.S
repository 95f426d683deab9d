/* A boot sector that reads port 0x3E0 (nothing decodes it) as a byte and as a word, prints
 * "in 3e0: bb wwww\n" on COM1 (the values in hex), and exits with value 0x30 if the byte read
 * was 0xFF and the word 0xFFFF, else 0x31. */
#include "include/real-mode-start.inc"
#include "include/puts-puthex8.inc"
        real_mode_start
        mov %ax, %ss
        mov $0x7c00, %sp
        mov $msg, %si
        call puts
        mov $0x3e0, %dx
        in %dx, %al
        mov %al, %bl
        in %dx, %ax
        mov %ax, %di
        mov %bl, %al
        call puthex8
        mov $' ', %al
        call putc
        mov %di, %ax
        mov %ah, %al
        call puthex8
        mov %di, %ax
        call puthex8
        mov $'\n', %al
        call putc
        mov $0x31, %al
        cmp $0xff, %bl
        jne 1f
        cmp $0xffff, %di
        jne 1f
        mov $0x30, %al
1:      out %al, $0xf4
        hlt

/* puts, puthex8 and puthex4 (include/puts-puthex8.inc) print through putc, which must follow:
 * here it writes %al to COM1. */
        puts_puthex8
putc:   push %dx
        mov $0x3f8, %dx
        out %al, %dx
        pop %dx
        ret

msg:    .asciz "in 3e0: "
        .org 510
        .byte 0x55, 0xaa
