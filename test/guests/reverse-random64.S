/* For reverse execution at random: 200 rounds of a 64-bit LCG whose values are xor-ed into a
   table at indexes the values choose, through a call, a push and SSE state each round (13
   instructions a round, 2606 in all): a history of a few thousand instructions whose every
   position has its own registers and memory. */
        .code64
        .globl _start
_start: lea stack_top(%rip), %rsp
        lea table(%rip), %rdi
        mov $0x2545f4914f6cdd1d, %r8
        mov $1, %eax
        mov $200, %r12d
        .globl round
round:  imul %r8, %rax
        add $0x9e37, %rax
        call store
        dec %r12d
        jnz round
        .globl done
done:   mov $0x21, %al
        out %al, $0xf4
        hlt

store:  push %rbx
        mov %rax, %rbx
        shr $59, %rbx                   /* an index 0..31 */
        xor %rax, (%rdi,%rbx,8)
#ifndef NO_SSE
        movq %rax, %xmm1
        paddq %xmm1, %xmm0
#else
        mov %rax, %rdx                  /* a sum without SSE, for hosts that can't run it at ring 0 */
        add %rdx, %rsi
#endif
        pop %rbx
        ret

        .balign 64
        .globl table
table:  .fill 32, 8, 0
        .balign 16
        .fill 64, 1, 0
        .globl stack_top
stack_top:
