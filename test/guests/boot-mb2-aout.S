/* A Multiboot2 kernel as a flat binary with the address and entry address tags (boot.test.ts).
   Checks EAX = 0x36D76289, walks the boot information tags at EBX: prints the command line
   (tag 1) as "cmdline <text>", the string of every module (tag 3) as "module <text>", then
   "multiboot2 a.out ok", all through COM1; exits through isa-debug-exit with 0x2a (0x13 on
   failure: bad magic, or no command-line tag). */
#include "include/multiboot.inc"
#include "include/com1-puts.inc"
        .code32
        .text
        .globl _start
_start: jmp entry
        multiboot2_header
        multiboot2_address_tags entry
        multiboot2_header_end
        .globl entry
entry:
        cmp $0x36D76289, %eax
        jne fail
        xor %edi, %edi                  /* command-line tags seen */
        lea 8(%ebx), %ebp               /* first tag */
next:   mov (%ebp), %eax                /* type */
        test %eax, %eax
        jz done
        cmp $1, %eax
        jne 3f
        inc %edi
        mov $s_cmdline, %esi
        call puts
        lea 8(%ebp), %esi
        call puts
        mov $s_nl, %esi
        call puts
        jmp 4f
3:      cmp $3, %eax
        jne 4f
        mov $s_module, %esi
        call puts
        lea 16(%ebp), %esi              /* after mod_start, mod_end */
        call puts
        mov $s_nl, %esi
        call puts
4:      mov 4(%ebp), %eax               /* size, then round up to 8 */
        add $7, %eax
        and $~7, %eax
        add %eax, %ebp
        jmp next
done:   cmp $1, %edi
        jne fail
        mov $msg, %esi
        call puts
        mov $0x2a, %al
        out %al, $0xf4
        hlt
fail:   mov $0x13, %al
        out %al, $0xf4
        hlt
puts:   com1_puts
        ret
s_cmdline: .asciz "cmdline "
s_module:  .asciz "module "
s_nl:      .asciz "\n"
msg:       .asciz "multiboot2 a.out ok\n"
        .data
        .globl value
value:  .ascii "MB2B"
        .bss
        .skip 4096
