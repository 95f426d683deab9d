/* Long mode, halted with interrupts on while the local APIC's timer fires (periodic, vector
   0x40; the 8259s all masked, so nothing comes through them): the handler counts ticks and
   signals the end of the interrupt to the APIC. For the test of an interrupt through the local
   APIC that arrives while recording. */
#include "include/idt64.inc"
        .code64
        .globl _start
_start: mov $0x7000, %rsp
        idt_gate64 0x40, handler
        lidt idtr(%rip)
        mov $0xff, %al                   /* both 8259s masked */
        out %al, $0x21
        out %al, $0xa1
        mov $0xfee00000, %edi            /* the local APIC's registers */
        movl $0x1ff, 0xf0(%rdi)          /* SVR: on, spurious vector 0xff */
        movl $0x0b, 0x3e0(%rdi)          /* timer divide by 1 */
        movl $0x20040, 0x320(%rdi)       /* LVT timer: periodic, vector 0x40 */
        movl $0x1000000, 0x380(%rdi)     /* initial count: about 17 ms at KVM's 1 GHz bus */
        sti
        .globl wait
wait:   hlt
        jmp wait
        .globl handler
handler:
        incq ticks(%rip)
        .globl counted
counted:
        movl $0, 0xb0(%rdi)              /* EOI */
        iretq
        .balign 8
        .globl ticks
ticks:  .quad 0
        idt64_table
