/* Long mode: writes 20000 bytes to the debug console (port 0xE9), "0123456789" over and over,
   a byte per out, then exits through isa-debug-exit with value 0x2a. */
        .code64
        .globl _start
_start: mov $20000, %ecx
        xor %ebx, %ebx
1:      mov %bl, %al
        add $'0', %al
        out %al, $0xe9
        inc %ebx
        cmp $10, %ebx
        jne 2f
        xor %ebx, %ebx
2:      dec %ecx
        jnz 1b
        mov $0x2a, %al
        out %al, $0xf4
        hlt
