/* start.S: the entry point, and two hand-written functions with explicit CFI:
 * frame setup through push/mov, a remember/restore_state pair around an early return,
 * and a register saved in another register. With DEBUG_FRAME, the CFI goes to .debug_frame. */
#ifdef DEBUG_FRAME
	.cfi_sections .debug_frame
#endif
	.text
	.globl	_start
	.type	_start, @function
	.globl	entry_label		/* an untyped alias: lookups prefer the function */
entry_label:
_start:
	.cfi_startproc
#ifdef __x86_64__
	.cfi_undefined rip
	lea	stack_top(%rip), %rsp
	xor	%ebp, %ebp
	call	main
	call	asm_leaf
	mov	$3, %edi
	call	asm_frame
#else
	.cfi_undefined eip
	mov	$stack_top, %esp
	xor	%ebp, %ebp
	call	main
	call	asm_leaf
	push	$3
	call	asm_frame
	add	$4, %esp
#endif
1:	hlt
	jmp	1b
	.cfi_endproc
	.size	_start, . - _start

/* A leaf that keeps its frame in a register: the return address stays at the CFA-8 (CFA-4). */
	.globl	asm_leaf
	.type	asm_leaf, @function
asm_leaf:
	.cfi_startproc
#ifdef __x86_64__
	mov	%rbx, %rax
	.cfi_register rbx, rax
	mov	$1, %ebx
	mov	%rax, %rbx
	.cfi_restore rbx
#else
	mov	%ebx, %eax
	.cfi_register ebx, eax
	mov	$1, %ebx
	mov	%eax, %ebx
	.cfi_restore ebx
#endif
	ret
	.cfi_endproc
	.size	asm_leaf, . - asm_leaf

/* A framed function with an early return inside remember/restore_state. */
	.globl	asm_frame
	.type	asm_frame, @function
asm_frame:
	.cfi_startproc
#ifdef __x86_64__
	push	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset rbp, -16
	mov	%rsp, %rbp
	.cfi_def_cfa_register rbp
	push	%rbx
	.cfi_offset rbx, -24
	test	%edi, %edi
	jnz	2f
	.cfi_remember_state
	pop	%rbx
	.cfi_restore rbx
	pop	%rbp
	.cfi_def_cfa rsp, 8
	.cfi_restore rbp
	ret
	.cfi_restore_state
asm_frame_recurse:			/* a local label inside a function */
2:	mov	%edi, %ebx
	dec	%edi
	call	asm_frame
	pop	%rbx
	.cfi_restore rbx
	pop	%rbp
	.cfi_def_cfa rsp, 8
	.cfi_restore rbp
	ret
#else
	push	%ebp
	.cfi_def_cfa_offset 8
	.cfi_offset ebp, -8
	mov	%esp, %ebp
	.cfi_def_cfa_register ebp
	push	%ebx
	.cfi_offset ebx, -12
	mov	8(%ebp), %ebx
	test	%ebx, %ebx
	jnz	2f
	.cfi_remember_state
	pop	%ebx
	.cfi_restore ebx
	pop	%ebp
	.cfi_def_cfa esp, 4
	.cfi_restore ebp
	ret
	.cfi_restore_state
asm_frame_recurse:
2:	dec	%ebx
	push	%ebx
	call	asm_frame
	add	$4, %esp
	pop	%ebx
	.cfi_restore ebx
	pop	%ebp
	.cfi_def_cfa esp, 4
	.cfi_restore ebp
	ret
#endif
	.cfi_endproc
	.size	asm_frame, . - asm_frame

	.bss
	.balign	16
	.space	8192
stack_top:
	.section .note.GNU-stack,"",@progbits
