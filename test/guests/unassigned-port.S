/* A boot sector that reads port 0x3E0 (nothing decodes it) as a byte and as a word, prints
 * "in 3e0: bb wwww\n" on COM1 (the values in hex), and exits with value 0x30 if the byte read
 * was 0xFF and the word 0xFFFF, else 0x31. */
        .code16
        .globl _start
_start:
        cli
        xor %ax, %ax
        mov %ax, %ds
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

/* puts: prints the NUL-terminated string at %si. */
puts:   lodsb
        test %al, %al
        jz 1f
        call putc
        jmp puts
1:      ret

/* puthex8: prints %al as two hex digits. */
puthex8:
        push %ax
        shr $4, %al
        call puthex4
        pop %ax
puthex4:
        and $0x0f, %al
        add $'0', %al
        cmp $'9', %al
        jbe putc
        add $('a' - '0' - 10), %al
/* putc: prints %al on COM1. */
putc:   push %dx
        mov $0x3f8, %dx
        out %al, %dx
        pop %dx
        ret

msg:    .asciz "in 3e0: "
        .org 510
        .byte 0x55, 0xaa
