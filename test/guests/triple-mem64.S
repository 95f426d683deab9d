/* Reads the UART's line status (an IN: the last exit), then counts in memory a thousand times
 * with no exit, then loads an empty IDT and faults: a triple fault. Where the host loses the
 * state at the shutdown (KVM on SVM), the replay from the last exit must bring back RIP at
 * `fault`, RBX and RSI as set here, and `counter` at 1000 (an add to memory: a replay that did
 * not put memory back first would count on from 1000). */
        .code64
        .globl _start
_start: mov $0x3fd, %dx
        in %dx, %al
        movzbl %al, %esi
        .globl count
count:  incq counter(%rip)
        cmpq $1000, counter(%rip)
        jne count
        mov $0x5678, %rbx
        lidt idtr(%rip)
        .globl fault
fault:  ud2
idtr:   .word 0
        .quad 0
        .p2align 12
        .globl counter
counter: .quad 0
