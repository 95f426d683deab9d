/* Page faults on an instruction's fetch: a call into a page not present, then into the same page
   present but no-execute (EFER.NXE, NX in its PDE). The handler counts each, adds up the error
   codes, keeps CR2 and resumes where R12 says. For the tests that step into the handler from
   the fetch and back. */
#include "include/idt64.inc"
#include "include/tss64.inc"
        .code64
        .globl _start
_start: mov $0x7000, %rsp
        load_gdt64
        idt_gate64 14, pf_handler
        lidt idtr(%rip)
        mov $0xc0000080, %ecx            /* EFER.NXE */
        rdmsr
        or $0x800, %eax
        wrmsr
        andq $~1, 0x3010                 /* the PDE of 4 MiB (the monitor's tables at 0x3000) */
        invlpg 0x400000
        .globl recorded
recorded:
        lea after_absent(%rip), %r12
        mov $0x400000, %rax
        call *%rax                       /* its fetch faults: not present */
        .globl after_absent
after_absent:
        btsq $63, 0x3010                 /* present again, but no-execute */
        orq $1, 0x3010
        invlpg 0x400000
        lea done(%rip), %r12
        mov $0x400000, %rax
        .globl nx_call
nx_call:
        call *%rax                       /* its fetch faults: NX */
        .globl done
done:   mov $0x21, %al
        out %al, $0xf4
        hlt

        .globl pf_handler
pf_handler:
        incq pf_count(%rip)
        pop %rax                         /* the error code */
        add %rax, pf_errors(%rip)
        mov %cr2, %rax
        mov %rax, pf_address(%rip)
        mov %r12, (%rsp)
        iretq

        .balign 8
        .globl counts
counts:
pf_count:   .quad 0
pf_errors:  .quad 0
pf_address: .quad 0
        .globl counts_end
counts_end:
        gdt64_begin
        .quad 0x00af9b000000ffff         /* 0x08: 64-bit code */
        .quad 0x00cf93000000ffff         /* 0x10: data */
gdt_end:
        idt64_table
