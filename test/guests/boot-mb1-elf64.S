/* A Multiboot 1 kernel in an ELF64 file (boot.test.ts), entered in 32-bit protected mode at
   e_entry like mb1-elf64. Checks EAX = 0x2BADB002 and that the information (EBX) names the boot
   loader (flag bit 9), prints "loader <name>" and "multiboot elf64 ok" through COM1 and exits
   through isa-debug-exit with 0x1c (0x13 on failure). */
#include "include/multiboot.inc"
#include "include/com1-puts.inc"
        .section .multiboot, "a"
        multiboot1_header 0x00000002    /* memory information */
        .text
        .code32
        .globl _start
_start:
        cmp $0x2BADB002, %eax
        jne fail
        testl $0x200, (%ebx)            /* boot_loader_name valid */
        jz fail
        mov $loader, %esi
        call puts
        mov 64(%ebx), %esi
        call puts
        mov $msg, %esi
        call puts
        mov $0x1c, %al
        out %al, $0xf4
        hlt
fail:   mov $0x13, %al
        out %al, $0xf4
        hlt
puts:   com1_puts
        ret
        .section .rodata
loader: .asciz "loader "
msg:    .asciz "\nmultiboot elf64 ok\n"
