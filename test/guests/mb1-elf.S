/* A Multiboot 1 kernel in ELF32 (no address fields: the loader reads the program headers).
   Checks EAX = 0x2BADB002, prints the command line from the Multiboot information (EBX) and
   "multiboot ok" through COM1, exits through isa-debug-exit with 0x1b (0x13 on failure). */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003        /* page-align modules, memory information */
        .section .multiboot, "a"
        .balign 4
        .globl mb_header
mb_header:
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .code32
        .text
        .globl _start
_start:
        cmp $0x2BADB002, %eax
        jne fail
        testl $4, (%ebx)                /* cmdline valid */
        jz fail
        mov 16(%ebx), %esi
        call puts
        mov $msg, %esi
        call puts
        mov $0x1b, %al
        out %al, $0xf4
        hlt
fail:   mov $0x13, %al
        out %al, $0xf4
        hlt
puts:   mov $0x3f8, %dx
1:      lodsb
        test %al, %al
        jz 2f
        out %al, %dx
        jmp 1b
2:      ret
        .section .rodata
msg:    .asciz "\nmultiboot ok\n"
        .data
        .globl counter
counter: .long 0x4d42314b                /* "K1BM" */
        .bss
        .skip 4096
