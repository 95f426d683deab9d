/* Bench guest: IO_COUNT byte writes to port 0x80 (no device there: the monitor's bus and the
   C reference both just drop the value), then a write to the isa-debug-exit port 0xF4 ends
   the run. Every `out` is one KVM_EXIT_IO round trip. IO_COUNT comes from the build (-D). */
#ifndef IO_COUNT
#define IO_COUNT 100000
#endif
        .code64
        .globl _start
_start:
        mov $IO_COUNT, %ecx
        xor %eax, %eax
        xor %ebx, %ebx
1:      out %al, $0x80
        inc %ebx                /* outs done: checked by the bench after the run */
        dec %ecx
        jnz 1b
        mov $0, %al
        out %al, $0xf4
2:      hlt
        jmp 2b
