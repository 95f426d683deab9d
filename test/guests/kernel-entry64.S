/* A flat 64-bit guest that starts the way a 64-bit Linux kernel does (kernel-entry.test.ts): it
   loads the GS base at its physical address (low_wrmsr), maps itself at 0xffffffff80000000 too
   (PML4[511] -> PDPT[510] -> PD[0], a 2 MiB page at physical 0, beside kvmdbg's identity tables),
   jumps there and loads the GS base again (high_wrmsr). Then it reads the GS base back, prints
   it through COM1 as 16 hex digits and a newline, and exits through isa-debug-exit with its
   low byte. */
        .code64
        .globl _start, low_wrmsr, high, high_wrmsr
_start:
        mov $0xc0000101, %ecx           /* MSR_GS_BASE */
        mov $0x11112222, %eax
        xor %edx, %edx
low_wrmsr:
        wrmsr
        mov %cr3, %rax
        and $-4096, %rax
        lea pdpt(%rip), %rbx
        or $3, %rbx                     /* present, writable */
        mov %rbx, 511*8(%rax)
        lea pd(%rip), %rbx
        or $3, %rbx
        mov %rbx, pdpt+510*8(%rip)
        movq $0x83, pd(%rip)            /* a 2 MiB page at 0: present, writable, PS */
        mov %cr3, %rax
        mov %rax, %cr3
        lea high(%rip), %rax
        add $-0x80000000, %rax          /* + 0xffffffff80000000 */
        jmp *%rax
high:
        mov $0xc0000101, %ecx
        mov $0x33334444, %eax
        mov $0xffff8888, %edx
high_wrmsr:
        wrmsr
        rdmsr
        shl $32, %rdx
        or %rdx, %rax
        mov %rax, %rbx
        lea digits(%rip), %rsi
        mov $16, %ecx
        mov $0x3f8, %dx
digit:
        rol $4, %rbx
        mov %ebx, %eax
        and $0xf, %eax
        movzbl (%rsi,%rax), %eax
        out %al, %dx
        dec %ecx
        jnz digit
        mov $'\n', %al
        out %al, %dx
        mov %ebx, %eax
        out %al, $0xf4
        hlt
digits: .ascii "0123456789abcdef"
        .balign 4096
pdpt:   .fill 512, 8, 0
pd:     .fill 512, 8, 0
