/* A host-fact probe (test/support/host-facts.ts): an `iret` in 32-bit protected mode, over a frame
 * pushed by hand (as an interrupt would push it), then isa-debug-exit with 0x21. kvm_pvm with
 * pvm_native fails on such an iret, so a 32-bit guest's interrupt handler cannot return there. */
        .code32
        .globl _start
_start: mov $stack_top, %esp
        pushf
        push %cs
        push $back
        iret
back:   mov $0x21, %al
        out %al, $0xf4
        hlt
        .balign 16
        .space 256
stack_top:
