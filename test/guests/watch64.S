/* Writes and reads variables for watchpoints. `near` shares the code page; `far` has its own. */
        .code64
        .globl _start
_start: mov $3, %ecx
1:      incl far(%rip)          /* read-modify-write of far */
        .globl after_inc
after_inc:
        mov %ecx, near(%rip)    /* write of near (on the code page) */
        .globl after_near
after_near:
        dec %ecx
        jnz 1b
        mov far(%rip), %eax     /* a plain read of far */
        .globl after_read
after_read:
        movw $0x1234, far+8(%rip) /* a write next to far, outside an 8-byte watch */
        mov $0x10, %al
        out %al, $0xf4
        hlt
        .balign 8
        .globl near
near:   .quad 0
        .balign 4096
        .globl far
far:    .quad 0
        .quad 0
