/* Ring 3 and back: the guest drops to ring 3 (iretq), where ud2 raises #UD into a ring-0 handler
   and `int $0x80` enters one through a DPL-3 gate, each frame on the TSS's RSP0 stack (the CPU
   switches stacks on the way in, and iretq back to ring 3). For the test that steps back across
   both. Ring 3 ends the run through `int $0x81`, whose ring-0 handler writes isa-debug-exit:
   ring 3 has no port access (IOPL 0). */
#include "include/idt64.inc"
#include "include/tss64.inc"
        .code64
        .globl _start
_start: mov $0x7000, %rsp
        load_gdt64
        load_tss64 0x28
        orq $4, 0x1000                   /* ring 3 may use the first 2 MiB: US in the monitor's */
        orq $4, 0x2000                   /* PML4E, PDPTE and PDE (its tables at 0x1000-0x3fff) */
        orq $4, 0x3000
        mov %cr3, %rax
        mov %rax, %cr3
        idt_gate64 6, ud_handler
        idt_gate64 0x80, int_handler
        idt_gate64 0x81, exit_handler
        movb $0xee, idt+0x80*16+5(%rip)  /* int $0x80 and $0x81 allowed from ring 3 */
        movb $0xee, idt+0x81*16+5(%rip)
        lidt idtr(%rip)
        pushq $0x1b                      /* ring 3's SS, RSP, RFLAGS (IF off, IOPL 0), CS, RIP */
        lea ustack_top(%rip), %rax
        push %rax
        pushq $0x0002
        pushq $0x23
        lea user(%rip), %rax
        push %rax
        .globl to_user
to_user:
        iretq
        .globl user
user:   mov $0x1111, %rbx
        ud2
        .globl after_ud
after_ud:
        int $0x80
        .globl done
done:   int $0x81
        .globl exit_handler
exit_handler:
        mov $0x21, %al
        out %al, $0xf4
        hlt

        .globl ud_handler
ud_handler:                              /* count it, return past the ud2 */
        incq ud_count(%rip)
        addq $2, (%rsp)
        iretq
        .globl int_handler
int_handler:
        incq int_count(%rip)
        iretq

        .balign 8
        .globl counts
counts:
ud_count:  .quad 0
int_count: .quad 0
        .globl counts_end
counts_end:
        gdt64_begin
        .quad 0x00af9b000000ffff         /* 0x08: 64-bit code */
        .quad 0x00cf93000000ffff         /* 0x10: data */
        .quad 0x00cff3000000ffff         /* 0x18: ring-3 data */
        .quad 0x00affb000000ffff         /* 0x20: ring-3 64-bit code */
        .quad 0x0000890000000067         /* 0x28: the 64-bit TSS (base filled in) */
        .quad 0
gdt_end:
tss:    .long 0
        .quad kstack_top, 0, 0           /* RSP0-2 */
        .quad 0
        .quad 0, 0, 0, 0, 0, 0, 0        /* IST1-7 */
        .quad 0
        .word 0, 0x68                    /* no I/O bitmap */
        .balign 64
        .globl kstack
kstack: .fill 128, 1, 0
        .globl kstack_top
kstack_top:
        .globl ustack
ustack: .fill 128, 1, 0
        .globl ustack_top
ustack_top:
        idt64_table
