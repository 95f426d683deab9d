/* A flat 16-bit binary linked at 0x8000 (not a boot sector: no 55 AA): prints on COM1 and exits
 * with value 0x0b. Run with --format flat --load-address 0x8000 --mode real. */
        .code16
        .globl _start
_start:
        cli
        xor %ax, %ax
        mov %ax, %ds
        mov $msg, %si
        mov $0x3f8, %dx
1:      lodsb
        test %al, %al
        jz 2f
        out %al, %dx
        jmp 1b
2:      mov $0x0b, %al
        out %al, $0xf4
        hlt
msg:    .asciz "flat binary at 0x8000\n"
