/* For reverse execution: a loop fills an array, then a bug overwrites one element; calls, pushes
   and SSE give the history stack writes and FPU/SSE state to undo. */
        .code64
        .globl _start
_start: lea stack_top(%rip), %rsp
        lea array(%rip), %rdi
        xor %ecx, %ecx
        .globl fill
fill:   mov %ecx, %eax
        imul $3, %eax
        .globl fill_store
fill_store:
        mov %eax, (%rdi,%rcx,4)   /* array[i] = 3 * i */
        inc %ecx
        cmp $16, %ecx
        jne fill
        .globl bug
bug:    call clobber              /* the bug: array[5] = 0xdead */
        .globl after_bug
after_bug:
#ifndef NO_SSE
        movq %rdi, %xmm0          /* SSE state changes, for the FPU part of the history */
        paddq %xmm0, %xmm0
        movq %xmm0, %rbx
#else
        lea (%rdi,%rdi), %rbx     /* the same RBX without SSE, for hosts that can't run it at ring 0 */
        nop
        nop
#endif
        xor %eax, %eax
        xor %ecx, %ecx
        .globl sum
sum:    add (%rdi,%rcx,4), %eax
        inc %ecx
        cmp $16, %ecx
        jne sum
        .globl done
done:   mov %eax, total(%rip)
        mov $0x10, %al
        out %al, $0xf4
        hlt

        .globl clobber
clobber:
        push %rbp
        mov %rsp, %rbp
        .globl bad_store
bad_store:
        movl $0xdead, 20(%rdi)
        pop %rbp
        ret

        .balign 64
        .globl array
array:  .fill 16, 4, 0
        .globl total
total:  .long 0
        .balign 16
        .fill 256, 1, 0
stack_top:
