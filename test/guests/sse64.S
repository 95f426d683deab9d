/* A host-fact probe (test/support/host-facts.ts): SSE at ring 0, then isa-debug-exit with 0x21
 * ((0x21 << 1) | 1 = 67). kvm_pvm with pvm_native emulates ring 0 and fails on the first movq. */
        .code64
        .globl _start
_start: mov $0x21, %edi
        movq %rdi, %xmm0
        paddq %xmm0, %xmm0
        movq %xmm0, %rax
        shr $1, %eax
        out %al, $0xf4
        hlt
