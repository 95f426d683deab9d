/* Counts forever in memory without a single exit: for the live watch, which reads `count` while
 * the guest runs. RAX follows it. */
        .code64
        .globl _start
_start: xor %eax, %eax
        .globl loop
loop:   incq count(%rip)
        inc %rax
        jmp loop
        .balign 8
        .globl count
count:  .quad 0
