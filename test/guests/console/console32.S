/* A 32-bit protected-mode guest for the console commands: its own GDT with a 32-bit TSS (ESP0
   0x9000, SS0 0x10), an IDT with a #GP gate, two pushed doublewords, then `ready`; exits 0x11. */
        .code32
        .globl _start
_start: lgdt gdtr
        ljmp $0x08, $1f
1:      mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov $tss, %eax              /* TSS descriptor base */
        mov %ax, gdt+0x18+2
        shr $16, %eax
        mov %al, gdt+0x18+4
        mov %ah, gdt+0x18+7
        mov $0x18, %ax
        ltr %ax
        mov $handler, %eax          /* gate 13 (#GP) */
        mov %ax, idt+13*8
        movw $0x08, idt+13*8+2
        movw $0x8e00, idt+13*8+4
        shr $16, %eax
        mov %ax, idt+13*8+6
        lidt idtr
        mov $0x7000, %esp
        push $0x11223344
        push $0x55
        .globl ready
ready:  nop
        mov $0x11, %al
        out %al, $0xf4
        hlt
        .globl handler
handler:
        iret
        .balign 8
        .globl gdt
gdt:    .quad 0
        .quad 0x00cf9b000000ffff    /* 0x08: 32-bit code */
        .quad 0x00cf93000000ffff    /* 0x10: data */
        .quad 0x0000890000000067    /* 0x18: 32-bit TSS, limit 0x67, base filled in above */
gdt_end:
gdtr:   .word gdt_end - gdt - 1
        .long gdt
        .balign 16
        .globl tss
tss:    .long 0                     /* link */
        .long 0x9000                /* ESP0 */
        .long 0x10                  /* SS0 */
        .fill 22, 4, 0
        .word 0                     /* T */
        .word 0x68                  /* I/O map base: none */
        .balign 8
idtr:   .word 256*8-1
        .long idt
        .balign 8
        .globl idt
idt:    .fill 256*8, 1, 0
