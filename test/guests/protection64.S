/* Protection faults the guest's own instructions raise, each into a handler that counts it, adds
   up its error codes and resumes where R12 says: a selector past the GDT's limit loaded into DS
   (#GP), a not-present data segment into ES (#NP), a store through a non-canonical address
   (#GP), one through RBP, so through SS (#SS), and an iretq to a data segment as CS (#GP). Every
   frame lands on the stack in use. For the tests that step into each handler and back. */
#include "include/idt64.inc"
#include "include/tss64.inc"
        .code64
        .globl _start
_start: mov $0x7000, %rsp
        load_gdt64
        idt_gate64 11, np_handler
        idt_gate64 12, ss_handler
        idt_gate64 13, gp_handler
        lidt idtr(%rip)
        .globl recorded
recorded:
        lea after_gp(%rip), %r12
        mov $0x20, %ax                   /* past the GDT's limit */
        .globl bad_selector
bad_selector:
        mov %ax, %ds
        .globl after_gp
after_gp:
        lea after_np(%rip), %r12
        mov $0x18, %ax                   /* a data segment, not present */
        .globl absent_segment
absent_segment:
        mov %ax, %es
        .globl after_np
after_np:
        lea after_nc(%rip), %r12
        mov $0x8000000000000000, %rax
        .globl non_canonical
non_canonical:
        movq $1, (%rax)
        .globl after_nc
after_nc:
        lea after_ss(%rip), %r12
        mov $0x8000000000000000, %rbp
        .globl non_canonical_stack
non_canonical_stack:
        movq $1, (%rbp)
        .globl after_ss
after_ss:
        lea done(%rip), %r12
        pushq $0x10                      /* SS, RSP, RFLAGS, then a data segment as CS */
        pushq $0x7000
        pushfq
        pushq $0x10
        push %r12
        .globl bad_iret
bad_iret:
        iretq
        .globl done
done:   mov $0x21, %al
        out %al, $0xf4
        hlt

/* A handler that counts its exception, adds up its error codes and resumes where R12 says. */
        .macro counting_handler name, count, errors
        .globl \name
\name:
        incq \count(%rip)
        pop %rax                         /* the error code */
        add %rax, \errors(%rip)
        mov %r12, (%rsp)
        iretq
        .endm
        counting_handler gp_handler, gp_count, gp_errors
        counting_handler np_handler, np_count, np_errors
        counting_handler ss_handler, ss_count, ss_errors

        .balign 8
        .globl counts
counts:
gp_count:  .quad 0
gp_errors: .quad 0
np_count:  .quad 0
np_errors: .quad 0
ss_count:  .quad 0
ss_errors: .quad 0
        .globl counts_end
counts_end:
        gdt64_begin
        .quad 0x00af9b000000ffff         /* 0x08: 64-bit code */
        .quad 0x00cf93000000ffff         /* 0x10: data */
        .quad 0x00cf13000000ffff         /* 0x18: data, not present */
gdt_end:
        idt64_table
