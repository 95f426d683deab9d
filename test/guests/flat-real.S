/* A flat 16-bit binary linked at 0x8000 (not a boot sector: no 55 AA): prints on COM1 and exits
 * with value 0x0b. Run with --format flat --load-address 0x8000 --mode real. */
#include "include/real-mode-start.inc"
#include "include/com1-puts.inc"
        real_mode_start
        mov $msg, %si
        com1_puts
        mov $0x0b, %al
        out %al, $0xf4
        hlt
msg:    .asciz "flat binary at 0x8000\n"
