/* Exceptions raised by the guest's own instructions, each with its frame somewhere else: ud2's
   #UD through IST1, a page fault (the 2 MiB page at 4 MiB made not present) through IST2, a
   division by zero's #DE on the stack it ran on, and a syscall, which pushes no frame but leaves
   RFLAGS in R11 (its handler returns with popfq and an indirect jump, at ring 0). For the test
   that steps back across each and forward again. */
#include "include/idt64.inc"
#include "include/tss64.inc"
        .code64
        .globl _start
_start: mov $0x7000, %rsp
        load_gdt64
        load_tss64 0x18
        idt_gate64 6, ud_handler
        movb $1, idt+6*16+4(%rip)        /* #UD on IST1 */
        idt_gate64 14, pf_handler
        movb $2, idt+14*16+4(%rip)       /* #PF on IST2 */
        idt_gate64 0, de_handler         /* #DE on the stack in use */
        lidt idtr(%rip)
        mov $0xc0000080, %ecx            /* EFER.SCE */
        rdmsr
        or $1, %eax
        wrmsr
        mov $0xc0000081, %ecx            /* STAR: syscall's CS 0x08, SS 0x10 */
        xor %eax, %eax
        mov $0x00080000, %edx
        wrmsr
        mov $0xc0000082, %ecx            /* LSTAR */
        lea sys_handler(%rip), %rax
        mov %rax, %rdx
        shr $32, %rdx
        wrmsr
        mov $0xc0000084, %ecx            /* FMASK: IF */
        mov $0x200, %eax
        xor %edx, %edx
        wrmsr
        .globl recorded
recorded:
        mov $0x1111, %rbx
        ud2
        .globl after_ud
after_ud:
        andq $~1, 0x3010                 /* the PDE of 4 MiB (the monitor's tables at 0x3000) */
        invlpg 0x400000
        .globl faulting
faulting:
        movq $0x5555, 0x400000
        .globl after_pf
after_pf:
        mov $7, %eax
        xor %edx, %edx
        xor %ecx, %ecx
        .globl dividing
dividing:
        div %ecx
        .globl after_de
after_de:
        syscall
        .globl after_syscall
after_syscall:
        mov %r11, %rdx
        .globl done
done:   mov $0x21, %al
        out %al, $0xf4
        hlt

        .globl ud_handler
ud_handler:                              /* count it, return past the ud2 */
        incq ud_count(%rip)
        addq $2, (%rsp)
        iretq
        .globl pf_handler
pf_handler:                              /* note it, the page back, the store again */
        push %rax
        mov %cr2, %rax
        mov %rax, pf_address(%rip)
        mov 8(%rsp), %rax
        mov %rax, pf_error(%rip)
        orq $1, 0x3010
        invlpg 0x400000
        pop %rax
        add $8, %rsp                     /* the error code */
        iretq
        .globl de_handler
de_handler:                              /* count it, return past the div */
        incq de_count(%rip)
        addq $2, (%rsp)
        iretq
        .globl sys_handler
sys_handler:                             /* RCX: where to return, R11: the RFLAGS */
        incq sys_count(%rip)
        push %r11
        popfq
        jmp *%rcx

        .balign 8
        .globl counts
counts:
ud_count:   .quad 0
pf_address: .quad 0
pf_error:   .quad 0
sys_count:  .quad 0
de_count:   .quad 0
        .globl counts_end
counts_end:
        gdt64_begin
        .quad 0x00af9b000000ffff         /* 0x08: 64-bit code */
        .quad 0x00cf93000000ffff         /* 0x10: data */
        .quad 0x0000890000000067         /* 0x18: the 64-bit TSS (base filled in) */
        .quad 0
gdt_end:
tss:    .long 0
        .quad 0, 0, 0                    /* RSP0-2 */
        .quad 0
        .quad ist1_top, ist2_top         /* IST1, IST2 */
        .quad 0, 0, 0, 0, 0
        .quad 0
        .word 0, 0x68                    /* no I/O bitmap */
        .balign 64
        .globl ist1
ist1:   .fill 128, 1, 0
        .globl ist1_top
ist1_top:
        .globl ist2
ist2:   .fill 128, 1, 0
        .globl ist2_top
ist2_top:
        idt64_table
