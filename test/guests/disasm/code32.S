# A long stream of variable-length 32-bit instructions.
        .code32
        .text
        .globl start
start:
        .rept 4
        push    %ebp
        mov     %esp, %ebp
        sub     $0x40, %esp
        mov     $0x12345678, %ecx
        mov     0x100400, %eax
        movl    $0xdeadbeef, 0x8(%ebp)
        lea     0x10(%eax,%ecx,4), %edx
        call    helper
        test    %eax, %eax
        jne     1f
        movzwl  (%esi), %eax
        cmpb    $0x7f, 0x1234(%ebx)
        jb      1f
        lock incl (%edi)
        rep movsl
        imul    $0x1234, %edx, %edi
        mov     %cr0, %eax
        lgdt    0x100800
        ljmp    $0x08, $0x100000
        out     %al, $0x80
        in      (%dx), %al
        pushl   %fs:0x20(%eax)
        enter   $0x10, $0
        leave
1:      nop
        cli
        call    *%eax
        call    *0x8(%ebx)
        jmp     *%edx
        lcall   $0x10, $0x2000
        lcall   *(%eax)
        ljmp    *(%ebx)
        push    $0x12
        pushf
        popf
        pusha
        popa
        iret
        lret
        ret     $8
        bound   %eax, (%ebx)
        arpl    %ax, %bx
        aam
        daa
        lds     (%eax), %ebx
        sysenter
        fnstsw  %ax
        jmp     2f
        hlt
2:      pop     %ebp
        .endr
        ret
helper:
        mov     $1, %eax
        ret
