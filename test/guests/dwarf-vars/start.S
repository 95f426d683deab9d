/* Entry for running the test programs as Linux processes under gdb: call main, then stop
   with a fault (hlt is privileged). asm_var is a variable C declares extern and DWARF
   knows only as a declaration, found through the symbol table. */
	.text
	.globl _start
_start:
	call main
	hlt

	.data
	.globl asm_var
	.type asm_var, @object
	.size asm_var, 4
asm_var:
	.long 0x12345678
	.section .note.GNU-stack,"",@progbits
