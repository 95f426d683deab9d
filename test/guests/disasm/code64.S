# A long stream of variable-length 64-bit instructions for the disassembler tests.
        .code64
        .text
        .globl start
start:
        .rept 4
        push    %rbp
        mov     %rsp, %rbp
        sub     $0x40, %rsp
        movabs  $0x1122334455667788, %rax
        mov     $0x12345678, %ecx
        lea     0x10(%rax,%rcx,4), %rdx
        lea     msg(%rip), %rsi
        mov     counter(%rip), %eax
        addl    $1, counter(%rip)
        call    helper
        test    %eax, %eax
        jne     1f
        xor     %r8d, %r8d
        mov     %r9, %r10
        movzbl  (%rsi), %eax
        movsbq  -1(%rsi), %rbx
        cmpb    $0x7f, 0x1234(%rbx)
        jb      1f
        lock cmpxchg %rcx, (%rdi)
        rep stosb
        imul    $0x1234, %rdx, %r11
        shl     $3, %rax
        bt      %rcx, %rax
        movdqa  %xmm1, %xmm2
        pshufd  $0x1b, (%rax), %xmm3
        vpaddd  %ymm1, %ymm2, %ymm3
        cpuid
        call    *%rax
        call    *0x8(%rbx)
        jmp     *%rdx
        jmp     *0x10(%rip)
        lcall   *(%rax)
        pushq   $0x12
        push    $0x12345678
        pushfq
        popfq
        iretq
        lretq
        ret     $8
        syscall
        sysretq
        mov     %cr3, %rax
        mov     %rax, %dr7
        swapgs
        wrmsr
        fninit
        fldl    0x8(%rsp)
        xchg    %eax, %ebx
        cqto
        cltq
        movsd   %xmm0, (%rax)
        movq    %xmm0, %rax
        rdtsc
1:      nopw    0x0(%rax,%rax,1)
        inc     %r15
        cmovne  %rax, %rbx
        jmp     2f
        int3
2:      pop     %rbp
        .endr
        ret
helper:
        mov     $1, %eax
        ret
msg:    ret
counter:
        ret
