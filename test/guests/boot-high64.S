/* A flat 64-bit guest (boot.test.ts) run with 5 GiB of RAM: reads the qword the test wrote at
   0x1_2000_0000 (above 4 GiB, reached through kvmdbg's 1 GiB identity pages), prints it as 16
   hex digits and a newline through COM1, stores its complement at 0x1_2000_0008 and exits
   through isa-debug-exit with its low byte. */
        .code64
        .globl _start
_start:
        movabs $0x120000000, %rdi
        mov (%rdi), %rbx
        mov %rbx, %rax
        not %rax
        mov %rax, 8(%rdi)
        lea digits(%rip), %rsi
        mov $16, %ecx
        mov $0x3f8, %dx
1:      rol $4, %rbx
        mov %ebx, %eax
        and $0xf, %eax
        movzbl (%rsi,%rax), %eax
        out %al, %dx
        dec %ecx
        jnz 1b
        mov $'\n', %al
        out %al, %dx
        mov %ebx, %eax                  /* 16 rotations by 4: the value again */
        out %al, $0xf4
        hlt
digits: .ascii "0123456789abcdef"
