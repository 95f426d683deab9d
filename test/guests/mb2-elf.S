/* A Multiboot2 kernel in ELF32. The header requires boot information tags 1 (cmdline),
   2 (boot loader name), 3 (modules), 4 (basic meminfo) and 6 (memory map), asks for page-aligned
   modules and optionally for a framebuffer (kvmdbg ignores that). Checks EAX = 0x36D76289,
   prints "multiboot2 ok" through COM1 and exits with 0x2b (0x13 on failure). */
#include "include/multiboot.inc"
#include "include/com1-puts.inc"
        .section .multiboot, "a"
        multiboot2_header
        .balign 8
info_request:
        .short 1, 0                     /* information request, required */
        .long info_request_end - info_request
        .long 1, 2, 3, 4, 6
info_request_end:
        .balign 8
        .short 6, 0                     /* module alignment */
        .long 8
        .balign 8
        .short 5, 1                     /* framebuffer, optional */
        .long 20
        .long 1024, 768, 32
        multiboot2_header_end

        .code32
        .text
        .globl _start
_start:
        cmp $0x36D76289, %eax
        jne fail
        mov $msg, %esi
        com1_puts
        mov $0x2b, %al
        out %al, $0xf4
        hlt
fail:   mov $0x13, %al
        out %al, $0xf4
        hlt
        .section .rodata
msg:    .asciz "multiboot2 ok\n"
        .data
        .globl value
value:  .ascii "MB2!"
        .bss
        .skip 8192
