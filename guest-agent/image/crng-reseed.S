# crng-reseed: makes the kernel reseed its CRNG now, as ioctl(open("/dev/urandom"), RNDRESEEDCRNG).
# Exit status: 0 when reseeded, else the errno (1 EPERM: not root; 61 ENODATA: CRNG not ready
# yet; 9 EBADF: no /dev/urandom; 25 ENOTTY: kernel older than 4.17).
#
# The guest agent runs it when a VM restored from a snapshot resumes: every clone starts with
# the snapshot's CRNG key, and a write to /dev/urandom only mixes into the input pool; the kernel
# reseeds from it on its own schedule (up to a minute later on 6.1). A reseed also mixes in
# RDSEED/RDRAND.
#
# This file is the whole executable, ELF header included, so no compiler or linker is needed:
# build-image.sh carries the 176 bytes it assembles to (base64). To regenerate them:
#   as --64 -o crng-reseed.o crng-reseed.S && objcopy -O binary -j .text crng-reseed.o crng-reseed && base64 -w0 crng-reseed
        .intel_syntax noprefix
        .set    BASE, 0x400000
        .text
ehdr:   .byte   0x7f, 'E', 'L', 'F', 2, 1, 1, 0         # ELF64, little-endian, version 1, SysV ABI
        .quad   0
        .short  2, 0x3e                                 # ET_EXEC, x86-64
        .long   1                                       # EV_CURRENT
        .quad   BASE + (_start - ehdr)                  # e_entry
        .quad   phdr - ehdr                             # e_phoff
        .quad   0                                       # e_shoff: no sections
        .long   0                                       # e_flags
        .short  phdr - ehdr, 56, 1, 64, 0, 0            # e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
phdr:   .long   1, 5                                    # PT_LOAD, PF_R | PF_X
        .quad   0, BASE, BASE                           # p_offset, p_vaddr, p_paddr
        .quad   end - ehdr, end - ehdr                  # p_filesz, p_memsz
        .quad   0x1000                                  # p_align
_start:
        mov     eax, 2                                  # open(path, O_RDONLY)
        lea     rdi, [rip + path]
        xor     esi, esi
        syscall
        mov     edi, eax                                # the fd, or -errno (then the ioctl fails with EBADF)
        mov     eax, 16                                 # ioctl(fd, RNDRESEEDCRNG = _IO('R', 0x07), 0)
        mov     esi, 0x5207
        xor     edx, edx
        syscall
        neg     eax                                     # exit(-result)
        mov     edi, eax
        mov     eax, 60
        syscall
path:   .asciz  "/dev/urandom"
end:
