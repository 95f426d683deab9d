# A long stream of variable-length 16-bit (real mode) instructions.
        .code16
        .text
        .globl start
start:
        .rept 4
        cli
        xor     %ax, %ax
        mov     %ax, %ds
        mov     $0x7c00, %sp
        mov     $0x1234, %bx
        movw    $0x5678, 0x10(%bx,%si)
        mov     0x7e00, %al
        lea     0x4(%bp,%di), %dx
        call    helper
        test    %ax, %ax
        jne     1f
        mov     $0x12345678, %eax
        mov     (%eax,%ecx,4), %edx
        int     $0x10
        call    *%ax
        call    *0x8(%bx)
        calll   *0x8(%bx)
        lcall   $0x1000, $0x20
        lcall   *(%bx)
        ljmp    *(%si)
        push    $0x12
        pushw   0x4(%bx)
        pushl   0x4(%bx)
        pushf
        popf
        pushfl
        iret
        lret
        ret     $2
        retl
        int3
        into
        les     (%bx), %di
        lgdt    (%bx)
        lgdtl   (%bx)
        movl    %cr0, %eax
        data32 ljmp $0x08, $0x7c00
        lodsb
        rep stosw
        ljmp    $0x0000, $0x7c00
        in      $0x60, %al
        jcxz    1f
        loop    1f
1:      sti
        jmp     2f
        hlt
2:      push    %cs
        pop     %ds
        .endr
        ret
helper:
        mov     $0x0e, %ah
        ret
