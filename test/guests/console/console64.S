/* A long-mode guest for the console commands: it loads its own GDT (with a 64-bit TSS), a TSS
   with RSP0 and IST1 set, and an IDT with a #BP and a #PF gate, pushes two known quadwords, and
   reaches `ready`. Then it exits with 0x11. */
        .code64
        .globl _start
_start: lgdt gdtr(%rip)
        pushq $0x08                 /* reload CS from our GDT */
        lea 1f(%rip), %rax
        push %rax
        lretq
1:      mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        lea tss(%rip), %rax         /* TSS descriptor base */
        mov %ax, gdt+0x18+2
        shr $16, %rax
        mov %al, gdt+0x18+4
        mov %ah, gdt+0x18+7
        shr $16, %rax
        mov %eax, gdt+0x18+8
        mov $0x18, %ax
        ltr %ax
        lea handler(%rip), %rax     /* gates 3 (#BP) and 14 (#PF, IST1, trap gate) */
        mov %ax, idt+3*16
        mov %ax, idt+14*16
        movw $0x08, idt+3*16+2
        movw $0x08, idt+14*16+2
        movw $0x8e00, idt+3*16+4
        movw $0x8f01, idt+14*16+4
        shr $16, %rax
        mov %ax, idt+3*16+6
        mov %ax, idt+14*16+6
        shr $16, %rax
        mov %eax, idt+3*16+8
        mov %eax, idt+14*16+8
        lidt idtr(%rip)
        mov $0x7000, %rsp
        mov $0x1122334455667788, %rax
        push %rax
        pushq $0x42
        mov $0xfedcba9876543210, %rbx
        .globl ready
ready:  nop
        mov $0x11, %al
        out %al, $0xf4
        hlt
        .globl handler
handler:
        iretq
        .globl text
text:   .asciz "console"
        .asciz "two"
        .balign 8
        .globl gdt
gdt:    .quad 0
        .quad 0x00af9b000000ffff    /* 0x08: 64-bit code */
        .quad 0x00cf93000000ffff    /* 0x10: data */
        .quad 0x0000890000000067    /* 0x18: 64-bit TSS, limit 0x67, base filled in above */
        .quad 0
gdt_end:
gdtr:   .word gdt_end - gdt - 1
        .quad gdt
        .balign 16
        .globl tss
tss:    .long 0
        .quad 0x9000                /* RSP0 */
        .quad 0, 0, 0
        .quad 0xa000                /* IST1 */
        .fill 6, 8, 0
        .quad 0
        .word 0
        .word 0x68                  /* I/O map base: none */
        .balign 16
idtr:   .word 256*16-1
        .quad idt
        .balign 16
        .globl idt
idt:    .fill 256*16, 1, 0
