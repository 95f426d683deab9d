/* A boot sector that says "spinning" on COM1, then spins forever at `spin`. */
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
2:
        .globl spin
spin:   jmp spin
msg:    .asciz "spinning\n"
        .org 510
        .byte 0x55, 0xaa
