/* Bench guest: as io.S, but each round also writes one quadword to each of PAGES pages before
   its `out` (PAGES from the build, -D; default 4), as a guest's stack and data would between two
   exits: the cost of the dirty log and shadow copy that triple-fault recovery keeps on SVM. */
#ifndef IO_COUNT
#define IO_COUNT 100000
#endif
#ifndef PAGES
#define PAGES 4
#endif
        .code64
        .globl _start
_start:
        mov $IO_COUNT, %ecx
        xor %eax, %eax
        xor %ebx, %ebx
1:      mov $0x400000, %edi
        mov $PAGES, %edx
2:      mov %rbx, (%rdi)
        add $4096, %edi
        dec %edx
        jnz 2b
        out %al, $0x80
        inc %ebx                /* outs done: checked by the bench after the run */
        dec %ecx
        jnz 1b
        mov $0, %al
        out %al, $0xf4
3:      hlt
        jmp 3b
