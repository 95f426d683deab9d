/* A Multiboot 1 kernel as a flat binary using the a.out kludge (flag bit 16): the header says
   where the file loads (load_addr = _start), how much of it (up to _edata), where .bss ends
   (_end) and where to enter (entry). Checks EAX and .bss, prints, exits with 0x1a. */
#include "include/multiboot.inc"
#include "include/com1-puts.inc"
        .code32
        .text
        .globl _start
_start: jmp entry
        multiboot1_header 0x00010003, mb_header /* page-align, memory information, address fields */
        .long mb_header                 /* header_addr */
        .long _start                    /* load_addr */
        .long _edata                    /* load_end_addr */
        .long _end                      /* bss_end_addr */
        .long entry                     /* entry_addr */
        .globl entry
entry:
        cmp $0x2BADB002, %eax
        jne fail
        mov $zeroed, %edi
        mov $1024, %ecx
        xor %eax, %eax
        repe scasl
        jne fail
        mov $msg, %esi
        com1_puts
        mov $0x1a, %al
        out %al, $0xf4
        hlt
fail:   mov $0x13, %al
        out %al, $0xf4
        hlt
msg:    .asciz "a.out kludge ok\n"
        .data
        .globl value
value:  .ascii "AOUT"
        .bss
        .globl zeroed
zeroed: .skip 4096
