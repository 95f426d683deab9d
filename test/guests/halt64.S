/* cli; hlt: nothing can wake the vCPU. */
        .code64
        .globl _start
_start: mov $0x42, %ebx
        cli
        .globl halt
halt:   hlt
        jmp halt
