/*
 * microvm's test guests: tiny kernels that enter exactly as Linux does, check
 * what the VMM gave them, and say so on the serial port.
 *
 * One source, several guests, chosen by preprocessor defines (see build.rs).
 * How it is packaged, and so how it is entered:
 *   BZIMAGE   a bzImage: setup header, then the protected-mode part loaded at
 *             1 MiB and entered at startup_64 (0x200 in) in 64-bit mode, with
 *             RSI = boot_params (the zero page);
 *   ELF       an ELF linked at 1 MiB, entered at e_entry in 64-bit mode with
 *             RSI = boot_params; with PVH_NOTE it also carries a PVH note, and
 *             is then entered at pvh_start in 32-bit mode, paging off, with
 *             EBX = hvm_start_info, and reaches 64-bit mode by itself, as Linux's
 *             own PVH entry does.
 * What it does:
 *   (default)     reads its memory map, command line and initrd, prints them,
 *                 with an FNV-1a checksum of the initrd's bytes, marks the
 *                 boot timer, and resets through the i8042;
 *   TRIPLE_FAULT  executes ud2 with no usable IDT: a triple fault;
 *   SPIN          loops forever (for --timeout);
 *   GARBAGE       reads and writes ports and MMIO where no device is, then
 *                 reports and resets;
 *   ECHO          prints "ECHO ready", then echoes what arrives on the serial
 *                 port until a '.', and resets (for the interactive console).
 *
 * CPL0 code is emulated instruction by instruction on nested-PVM hosts, so
 * these guests stay at a few tens of thousands of instructions.
 */

#define COM1            0x3f8
#define I8042_COMMAND   0x64
#define I8042_RESET     0xfe
#define BOOT_TIMER      0xc0000000
#define BOOT_TIMER_MARK 123

	.section .text, "ax"

#ifdef BZIMAGE
	/* The boot sector and the setup header (Documentation/arch/x86/boot.rst).
	 * A loader reads these fields; nothing here runs in real mode. */
	.code16
	.org 0x1f1
	.byte 1                 /* 0x1f1 setup_sects: one 512-byte sector of setup */
	.word 0                 /* 0x1f2 root_flags */
	.long 0                 /* 0x1f4 syssize */
	.word 0                 /* 0x1f8 ram_size */
	.word 0                 /* 0x1fa vid_mode */
	.word 0                 /* 0x1fc root_dev */
	.word 0xaa55            /* 0x1fe boot_flag */
	.byte 0xeb, 0x66        /* 0x200 jump (unused) */
	.ascii "HdrS"           /* 0x202 header magic */
	.word 0x020f            /* 0x206 boot protocol 2.15 */
	.long 0                 /* 0x208 realmode_swtch */
	.word 0                 /* 0x20c start_sys_seg */
	.word 0                 /* 0x20e kernel_version: none, so not taken for Linux */
	.byte 0                 /* 0x210 type_of_loader: the loader fills it in */
	.byte 0x01              /* 0x211 loadflags: LOADED_HIGH */
	.word 0                 /* 0x212 setup_move_size */
	.long 0x100000          /* 0x214 code32_start */
	.long 0                 /* 0x218 ramdisk_image */
	.long 0                 /* 0x21c ramdisk_size */
	.long 0                 /* 0x220 bootsect_kludge */
	.word 0                 /* 0x224 heap_end_ptr */
	.byte 0                 /* 0x226 ext_loader_ver */
	.byte 0                 /* 0x227 ext_loader_type */
	.long 0                 /* 0x228 cmd_line_ptr */
	.long 0x7fffffff        /* 0x22c initrd_addr_max */
	.long 0x200000          /* 0x230 kernel_alignment */
	.byte 0                 /* 0x234 relocatable_kernel */
	.byte 0                 /* 0x235 min_alignment */
	.word 0x0001            /* 0x236 xloadflags: XLF_KERNEL_64 */
	.long 2047              /* 0x238 cmdline_size */
	.long 0                 /* 0x23c hardware_subarch */
	.quad 0                 /* 0x240 hardware_subarch_data */
	.long 0                 /* 0x248 payload_offset */
	.long 0                 /* 0x24c payload_length */
	.quad 0                 /* 0x250 setup_data */
	.quad 0x100000          /* 0x258 pref_address */
	.long 0x10000           /* 0x260 init_size */
	.long 0                 /* 0x264 handover_offset */
	.long 0                 /* 0x268 kernel_info_offset */
	.org 0x400              /* the protected-mode part begins: loaded at 1 MiB */
	.org 0x600              /* startup_64 is 0x200 into it */
	.code64
startup_64:
	jmp main_linux64
#endif

#ifdef ELF
	.code64
	.globl _start
_start:
	jmp main_linux64
#endif

#ifdef PVH_NOTE
	/* XEN_ELFNOTE_PHYS32_ENTRY (18): where a PVH loader enters. */
	.pushsection .note.Xen, "a", @note
	.balign 4
	.long 4                 /* namesz */
	.long 4                 /* descsz */
	.long 18                /* type */
	.asciz "Xen"
	.long pvh_start
	.popsection

	.code32
pvh_start:
	/* 32-bit protected mode, paging off, EBX = hvm_start_info. */
	mov %ebx, %esi
	/* PML4[0] -> PDPT; PDPT[0..3] -> four PDs; 2048 PD entries of 2 MiB
	 * identity-map 4 GiB (the boot timer's MMIO is at 3 GiB). */
	mov $pt_pdpt, %eax
	or $3, %eax
	mov %eax, pt_pml4
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $12, %eax
	add $pt_pd, %eax
	or $3, %eax
	mov %eax, pt_pdpt(,%ecx,8)
	inc %ecx
	cmp $4, %ecx
	jb 1b
	xor %ecx, %ecx
2:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax
	mov %eax, pt_pd(,%ecx,8)
	mov %ecx, %edx
	shr $11, %edx
	mov %edx, pt_pd+4(,%ecx,8)
	inc %ecx
	cmp $2048, %ecx
	jb 2b
	mov $pt_pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax          /* CR4.PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx   /* EFER */
	rdmsr
	or $0x100, %eax         /* EFER.LME */
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax    /* CR0.PG | CR0.PE */
	mov %eax, %cr0
	lgdt gdt64_pointer
	ljmp $0x08, $pvh_long_mode

	.code64
pvh_long_mode:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $stack_top, %rsp
	mov %esi, %esi          /* zero-extend the start info's address */
	jmp main_pvh

	.balign 8
gdt64:
	.quad 0
	.quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff        /* 0x10: data */
gdt64_pointer:
	.word gdt64_pointer - gdt64 - 1
	.long gdt64
#endif

	.code64

/* ---- what the guest does, once in 64-bit mode -------------------------- */

#if defined(TRIPLE_FAULT)
main_linux64:
main_pvh:
	ud2                     /* #UD, no IDT entry: #GP, then #DF, then shutdown */

#elif defined(SPIN)
main_linux64:
main_pvh:
1:	jmp 1b

#elif defined(GARBAGE)
main_linux64:
main_pvh:
	mov $0x1234, %dx
	mov $0x5a, %al
	out %al, %dx            /* byte, word and long writes to a port with nothing */
	mov $0x5a5a, %ax
	out %ax, %dx
	mov $0x5a5a5a5a, %eax
	out %eax, %dx
	in %dx, %al             /* and reads, which see all ones */
	in %dx, %ax
	in %dx, %eax
	mov $0xcf8, %dx         /* PCI configuration: no PCI here */
	out %eax, %dx
	mov $0xd0000000, %eax   /* MMIO in the gap, where no device is */
	movq $0x5a5a5a5a5a5a5a5a, %rcx
	mov %cl, (%rax)
	mov %ecx, 8(%rax)
	mov %rcx, 16(%rax)
	mov (%rax), %rcx
	mov $BOOT_TIMER, %eax   /* a boot-timer write that is not the mark */
	movb $7, (%rax)
	lea msg_garbage(%rip), %rdi
	call puts
	jmp reset

#elif defined(ECHO)
main_linux64:
main_pvh:
	lea msg_echo(%rip), %rdi
	call puts
1:	mov $COM1 + 5, %dx      /* line status register */
	in %dx, %al
	test $1, %al            /* data ready? */
	jz 1b
	mov $COM1, %dx
	in %dx, %al             /* the byte */
	call putc
	cmp $'.', %al
	jne 1b
	call newline
	jmp reset

#else
/* boot_params (the zero page), for the 64-bit boot protocol. */
main_linux64:
	mov %rsi, %r15
	lea msg_linux64(%rip), %rdi
	call puts
	movzbq 0x1e8(%r15), %r12        /* e820_entries */
	mov %r12, %rdi
	mov $2, %esi
	call puthex
	call newline
	lea 0x2d0(%r15), %rbx           /* e820_table: 20-byte entries */
1:	test %r12, %r12
	jz 2f
	mov (%rbx), %rdi
	mov 8(%rbx), %rsi
	mov 16(%rbx), %edx
	call print_range
	add $20, %rbx
	dec %r12
	jmp 1b
2:	mov 0x228(%r15), %edi           /* cmd_line_ptr */
	call print_cmdline
	mov 0x218(%r15), %r13d          /* ramdisk_image */
	mov 0x21c(%r15), %r14d          /* ramdisk_size */
	jmp finish

/* hvm_start_info, for PVH. */
main_pvh:
	mov %rsi, %r15
	lea msg_pvh(%rip), %rdi
	call puts
	mov 48(%r15), %r12d             /* memmap_entries */
	mov %r12, %rdi
	mov $2, %esi
	call puthex
	lea msg_magic(%rip), %rdi
	call puts
	mov (%r15), %edi                /* magic */
	mov $8, %esi
	call puthex
	call newline
	mov 40(%r15), %rbx              /* memmap_paddr: 24-byte entries */
1:	test %r12, %r12
	jz 2f
	mov (%rbx), %rdi
	mov 8(%rbx), %rsi
	mov 16(%rbx), %edx
	call print_range
	add $24, %rbx
	dec %r12
	jmp 1b
2:	mov 24(%r15), %rdi              /* cmdline_paddr */
	call print_cmdline
	xor %r13, %r13
	xor %r14, %r14
	cmpl $0, 12(%r15)               /* nr_modules */
	je finish
	mov 16(%r15), %rax              /* modlist_paddr: module 0 is the initrd */
	mov (%rax), %r13
	mov 8(%rax), %r14
	jmp finish

/* "INITRD addr size fnv1a", the boot-timer mark, "BYE", and the reset. */
finish:
	lea msg_initrd(%rip), %rdi
	call puts
	mov %r13, %rdi
	mov $16, %esi
	call puthex
	call space
	mov %r14, %rdi
	mov $16, %esi
	call puthex
	call space
	mov %r13, %rdi
	mov %r14, %rsi
	call fnv1a
	mov %eax, %edi
	mov $8, %esi
	call puthex
	call newline
	mov $BOOT_TIMER, %eax
	movb $BOOT_TIMER_MARK, (%rax)
	lea msg_bye(%rip), %rdi
	call puts
	jmp reset

/* "E820 addr size type" from rdi, rsi, edx. */
print_range:
	push %rbx
	push %r12
	push %r13
	mov %rdi, %rbx
	mov %rsi, %r12
	mov %edx, %r13d
	lea msg_e820(%rip), %rdi
	call puts
	mov %rbx, %rdi
	mov $16, %esi
	call puthex
	call space
	mov %r12, %rdi
	mov $16, %esi
	call puthex
	call space
	mov %r13, %rdi
	mov $8, %esi
	call puthex
	call newline
	pop %r13
	pop %r12
	pop %rbx
	ret

/* "CMDLINE text" from the NUL-terminated string at rdi (at most 2048 bytes). */
print_cmdline:
	push %rbx
	mov %rdi, %rbx
	lea msg_cmdline(%rip), %rdi
	call puts
	mov %rbx, %rdi
	mov $2048, %ecx
1:	movb (%rdi), %al
	test %al, %al
	jz 2f
	call putc
	inc %rdi
	dec %ecx
	jnz 1b
2:	call newline
	pop %rbx
	ret

/* FNV-1a, 32 bits, of rsi bytes at rdi, into eax. */
fnv1a:
	mov $0x811c9dc5, %eax
1:	test %rsi, %rsi
	jz 2f
	movzbl (%rdi), %edx
	xor %edx, %eax
	imul $0x01000193, %eax, %eax
	inc %rdi
	dec %rsi
	jmp 1b
2:	ret
#endif

#if !defined(TRIPLE_FAULT) && !defined(SPIN)
reset:
	mov $I8042_RESET, %al
	out %al, $I8042_COMMAND
1:	hlt
	jmp 1b

/* The low esi nibbles of rdi, in hex. */
puthex:
	push %rbx
	mov %esi, %ebx
1:	test %ebx, %ebx
	jz 2f
	dec %ebx
	lea (,%rbx,4), %ecx
	mov %rdi, %rax
	shr %cl, %rax
	and $0xf, %eax
	lea hex_digits(%rip), %rdx
	movb (%rdx,%rax), %al
	call putc
	jmp 1b
2:	pop %rbx
	ret

space:
	mov $' ', %al
	jmp putc
newline:
	mov $'\n', %al
	/* fall through */
putc:
	push %rdx
	mov $COM1, %dx
	out %al, %dx
	pop %rdx
	ret

/* The NUL-terminated string at rdi. */
puts:
1:	movb (%rdi), %al
	test %al, %al
	jz 2f
	call putc
	inc %rdi
	jmp 1b
2:	ret

hex_digits:     .ascii "0123456789abcdef"
msg_linux64:    .asciz "GUEST protocol=linux64 e820="
msg_pvh:        .asciz "GUEST protocol=pvh e820="
msg_magic:      .asciz " magic="
msg_e820:       .asciz "E820 "
msg_cmdline:    .asciz "CMDLINE "
msg_initrd:     .asciz "INITRD "
msg_bye:        .asciz "BYE\n"
msg_garbage:    .asciz "GARBAGE done\n"
msg_echo:       .asciz "ECHO ready\n"
#endif

#ifdef PVH_NOTE
	.section .bss
	.balign 4096
pt_pml4:        .skip 4096
pt_pdpt:        .skip 4096
pt_pd:          .skip 4 * 4096
	.skip 4096
stack_top:
#endif
