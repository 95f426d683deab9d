/* For reverse execution across port input and mode switches: a boot sector that reads one byte
   from COM1 in real mode (polling LSR, then RBR) and keeps it in BL, switches to 32-bit protected
   mode and then to long mode with page tables it writes itself, pushes and pops on the long-mode
   stack, reads a second byte from RBR (no polling: it was sent with the first) and exits through
   isa-debug-exit with that second byte. A history replayed forward that read the UART again
   would take the second byte early, and the exit would differ. */
#include "include/long-mode.inc"
#include "include/real-mode-start.inc"
        .set PML4, 0x20000
        .set PDPT, 0x21000
        .set PD, 0x22000
        real_mode_start
        mov %ax, %ss
        mov $0x7c00, %sp
        mov $0x3fd, %dx                 /* LSR */
poll:   in %dx, %al
        test $0x01, %al                 /* DR: a byte is waiting */
        jz poll
        mov $0x3f8, %dx
        .globl rbr_read
rbr_read:
        in %dx, %al                     /* RBR: the first byte */
        .globl after_rbr
after_rbr:
        mov %al, %bl
        lgdtl gdtr
        mov %cr0, %eax
        .globl or_pe
or_pe:  or $1, %eax
        .globl to_protected
to_protected:
        mov %eax, %cr0
        ljmpl $0x08, $prot

        .code32
        .globl prot
prot:   mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov $0x7c00, %esp
        movl $(PDPT | 3), PML4
        movl $(PD | 3), PDPT
        movl $0x83, PD                  /* 2 MiB page at 0: present, writable, PS */
        prepare_long_mode PML4
        .globl to_long
to_long:
        mov %eax, %cr0
        ljmp $0x18, $long

        .code64
        .globl long
long:   push %rbx
        .globl long_pop
long_pop:
        pop %rcx
        mov $0x3f8, %dx
        in %dx, %al                     /* RBR: the second byte */
        .globl exit
exit:   out %al, $0xf4
        hlt

        .balign 8
gdt:    .quad 0
        .quad 0x00cf9a000000ffff        /* 0x08: 32-bit code */
        .quad 0x00cf92000000ffff        /* 0x10: data */
        .quad 0x00af9a000000ffff        /* 0x18: 64-bit code */
gdtr:   .word gdtr - gdt - 1
        .long gdt
        .org 510
        .byte 0x55, 0xaa
