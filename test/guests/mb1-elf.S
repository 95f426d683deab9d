/* A Multiboot 1 kernel in ELF32 (no address fields: the loader reads the program headers).
   Checks EAX = 0x2BADB002, prints the command line from the Multiboot information (EBX) and
   "multiboot ok" through COM1, exits through isa-debug-exit with 0x1b (0x13 on failure). */
#include "include/multiboot.inc"
#include "include/com1-puts.inc"
        .section .multiboot, "a"
        multiboot1_header 0x00000003, mb_header /* page-align modules, memory information */

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
puts:   com1_puts
        ret
        .section .rodata
msg:    .asciz "\nmultiboot ok\n"
        .data
        .globl counter
counter: .long 0x4d42314b                /* "K1BM" */
        .bss
        .skip 4096
