/* A boot sector that reads 4 bytes from COM1 (polling LSR bit 0), and writes them back with
 * lowercase letters made uppercase, between "[" and "]", then exits with value 0x15. */
#include "include/real-mode-start.inc"
        real_mode_start
        mov $0x3f8, %dx
        mov $'[', %al
        out %al, %dx
        mov $4, %cx
next:   mov $0x3fd, %dx                 /* LSR */
1:      in %dx, %al
        test $0x01, %al                 /* DR: a byte is waiting */
        jz 1b
        mov $0x3f8, %dx                 /* RBR */
        in %dx, %al
        cmp $'a', %al
        jb 2f
        cmp $'z', %al
        ja 2f
        sub $0x20, %al
2:      out %al, %dx                    /* THR */
        loop next
        mov $']', %al
        out %al, %dx
        mov $0x15, %al
        out %al, $0xf4
        hlt
        .org 510
        .byte 0x55, 0xaa
