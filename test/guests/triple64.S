/* Loads an empty IDT and faults: #UD cannot be delivered, nor #DF: a triple fault. */
        .code64
        .globl _start
_start: mov $0x1234, %rbx
        .globl load_idt
load_idt:
        lidt idtr(%rip)
        .globl fault
fault:  ud2
idtr:   .word 0
        .quad 0
