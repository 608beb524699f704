//! Loading a Linux kernel, its initrd and its command line into guest memory,
//! and writing what the kernel reads first: the zero page (`struct
//! boot_params`) for the 64-bit boot protocol, or `hvm_start_info` for PVH.
//!
//! Two kernel formats are accepted, told apart by their first bytes:
//! - a bzImage (`HdrS` at offset 0x202): a real-mode setup part, then the
//!   protected-mode kernel, which is loaded at 1 MiB and entered at its 64-bit
//!   entry point, 0x200 bytes in (`startup_64`);
//! - an ELF (`\x7fELF`), such as `vmlinux`: its segments are loaded where its
//!   program headers say. If it carries a PVH note (XEN_ELFNOTE_PHYS32_ENTRY), it
//!   is entered there in 32-bit mode; otherwise at its ELF entry in 64-bit mode.
//!
//! linux-loader does the loading; this module checks the input first, so that a
//! wrong file, a kernel too big for `--mem` or an initrd that does not fit is a
//! clear error before the VM runs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use linux_loader::configurator::linux::LinuxBootConfigurator;
use linux_loader::configurator::pvh::PvhBootConfigurator;
use linux_loader::configurator::{BootConfigurator, BootParams};
use linux_loader::loader::bootparam::{boot_params, setup_header};
use linux_loader::loader::elf::PvhBootCapability;
use linux_loader::loader::elf::start_info::{
    hvm_memmap_table_entry, hvm_modlist_entry, hvm_start_info,
};
use linux_loader::loader::{BzImage, Elf, KernelLoader, KernelLoaderResult};
use serde::{Deserialize, Serialize};
use vm_memory::{Address, ByteValued, Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::layout::{
    CMDLINE_MAX_SIZE, CMDLINE_START, EBDA_START, HIMEM_START, PVH_INFO_START, ZERO_PAGE_START,
};
use crate::vcpu::Entry;

/// What is wrong with the kernel, the initrd or the command line.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// A kernel or initrd that is a directory, a device or a FIFO.
    #[error("{0}: give a kernel (or initrd) file")]
    NotAFile(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{0} is not a kernel: it is neither a bzImage (no \"HdrS\" at offset 0x202) nor an ELF file"
    )]
    NotAKernel(PathBuf),
    #[error("{path} is truncated: the file ends before its {part} does")]
    Truncated { path: PathBuf, part: &'static str },
    #[error(
        "{path} uses boot protocol {major}.{minor:02}, which has no 64-bit entry point: microvm needs 2.06 or newer with XLF_KERNEL_64"
    )]
    No64BitEntry {
        path: PathBuf,
        major: u16,
        minor: u16,
    },
    #[error("cannot load {path}: {detail}")]
    Load { path: PathBuf, detail: String },
    #[error(
        "--mem is too small for {path}: the kernel needs memory up to {needed_mib} MiB (from its load address plus init_size), the VM has {have_mib} MiB"
    )]
    KernelTooBig {
        path: PathBuf,
        needed_mib: u64,
        have_mib: u64,
    },
    #[error(
        "the initrd {path} ({size} bytes) does not fit in guest memory above the kernel: give more --mem"
    )]
    InitrdTooBig { path: PathBuf, size: u64 },
    #[error("the command line is {len} bytes; the most this kernel takes is {max}")]
    CmdlineTooLong { len: usize, max: usize },
    #[error("the command line holds a NUL byte")]
    CmdlineNul,
    #[error("cannot write the boot parameters: {0}")]
    Params(String),
}

/// What to boot.
pub struct LinuxBootConfig<'a> {
    pub kernel: &'a Path,
    pub initrd: Option<&'a Path>,
    pub cmdline: &'a str,
}

/// One entry of the memory map the guest is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryRange {
    pub addr: u64,
    pub size: u64,
    /// 1 = usable RAM (E820_RAM).
    pub kind: u32,
}

/// Where everything went: printed in `--json`, and checked by the tests
/// against what the test guests read back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootLayout {
    pub kernel_format: String,
    pub protocol: String,
    pub kernel_load: u64,
    pub kernel_end: u64,
    pub entry: u64,
    /// The zero page (linux64) or hvm_start_info (pvh).
    pub params_addr: u64,
    pub cmdline_addr: u64,
    pub cmdline_len: usize,
    pub initrd: Option<InitrdPlacement>,
    pub e820: Vec<MemoryRange>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct InitrdPlacement {
    pub addr: u64,
    pub size: u64,
}

/// The bzImage setup header fields a loader decides by. Parsed from the file
/// alone, without running anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BzImageInfo {
    /// Sectors of real-mode setup code after the boot sector.
    pub setup_sects: u8,
    /// Boot protocol version, e.g. 0x020f for 2.15.
    pub protocol: u16,
    /// The compressed kernel, within the protected-mode part.
    pub payload_offset: u32,
    pub payload_length: u32,
    pub relocatable: bool,
    pub has_64bit_entry: bool,
    /// Where the kernel prefers to be loaded.
    pub pref_address: u64,
    /// Memory the kernel needs from its load address while it decompresses.
    pub init_size: u32,
    pub cmdline_size: u32,
    pub initrd_addr_max: u32,
}

const HDRS_MAGIC: u32 = 0x5372_6448; // "HdrS"
const SETUP_HEADER_OFFSET: u64 = 0x1f1;
const XLF_KERNEL_64: u16 = 1 << 0;
/// Offset of the 64-bit entry point in the protected-mode kernel.
const STARTUP_64_OFFSET: u64 = 0x200;
const E820_RAM: u32 = 1;
const PVH_MAGIC: u32 = 0x336e_c578;

enum Format {
    BzImage(setup_header),
    Elf,
}

/// Opens a kernel or an initrd: a regular file only, so that a FIFO cannot hang
/// the open and a device cannot be read without end.
fn open(path: &Path) -> Result<File, BootError> {
    match runtime::image::source::open_regular(path) {
        Ok((file, _)) => Ok(file),
        Err(runtime::image::source::SourceError::Io { source, .. }) => Err(BootError::Read {
            path: path.to_path_buf(),
            source,
        }),
        Err(other) => Err(BootError::NotAFile(other.to_string())),
    }
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> BootError + '_ {
    move |source| BootError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Tells the format from the first bytes, and reads a bzImage's setup header.
fn identify(path: &Path, file: &mut File) -> Result<Format, BootError> {
    let len = file.metadata().map_err(read_error(path))?.len();
    let mut magic = [0u8; 4];
    if len < 4 {
        return Err(BootError::NotAKernel(path.to_path_buf()));
    }
    file.read_exact(&mut magic).map_err(read_error(path))?;
    if magic == *b"\x7fELF" {
        return Ok(Format::Elf);
    }
    let header_end = SETUP_HEADER_OFFSET + std::mem::size_of::<setup_header>() as u64;
    if len < 0x206 {
        return Err(BootError::NotAKernel(path.to_path_buf()));
    }
    let mut header = setup_header::default();
    file.seek(SeekFrom::Start(SETUP_HEADER_OFFSET))
        .map_err(read_error(path))?;
    let read = file.read(header.as_mut_slice()).map_err(read_error(path))?;
    if { header.header } != HDRS_MAGIC {
        return Err(BootError::NotAKernel(path.to_path_buf()));
    }
    let truncated = |part| BootError::Truncated {
        path: path.to_path_buf(),
        part,
    };
    if (read as u64) < header_end - SETUP_HEADER_OFFSET {
        return Err(truncated("setup header"));
    }
    // setup_sects 0 means 4, for the oldest kernels.
    let sectors = match header.setup_sects {
        0 => 4,
        n => u64::from(n),
    };
    let setup_bytes = (sectors + 1) * 512;
    // The compressed kernel must be all there (its place is known from 2.08).
    let payload_end = if header.version >= 0x0208 {
        u64::from(header.payload_offset) + u64::from(header.payload_length)
    } else {
        1
    };
    if len < setup_bytes + payload_end {
        return Err(truncated("compressed kernel"));
    }
    Ok(Format::BzImage(header))
}

/// Checks that `path` is a whole bzImage or ELF file, and tells whether it is a
/// real Linux kernel (which cannot boot on nested PVM) rather than a small
/// guest of our own: a bzImage whose header points at a version string, or an
/// ELF with a "Linux" note. Reads only the headers, not the whole kernel.
pub fn is_linux_kernel(path: &Path) -> Result<bool, BootError> {
    let mut file = open(path)?;
    match identify(path, &mut file)? {
        // kernel_version points 0x200 bytes before a string like "6.1.0-...".
        Format::BzImage(h) if h.kernel_version != 0 => {
            let mut first = [0u8];
            file.seek(SeekFrom::Start(u64::from(h.kernel_version) + 0x200))
                .and_then(|_| file.read_exact(&mut first))
                .map_err(read_error(path))?;
            Ok(first[0].is_ascii_digit())
        }
        Format::BzImage(_) => Ok(false),
        Format::Elf => has_linux_note(path, &mut file),
    }
}

/// Whether any PT_NOTE segment of an ELF holds a note named "Linux".
fn has_linux_note(path: &Path, file: &mut File) -> Result<bool, BootError> {
    const PT_NOTE: u32 = 4;
    let mut header = [0u8; 64];
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut header))
        .map_err(read_error(path))?;
    for phdr in program_headers(path, file, &header)? {
        if u32::from_le_bytes(phdr[0..4].try_into().unwrap_or_default()) != PT_NOTE {
            continue;
        }
        let offset = u64::from_le_bytes(phdr[8..16].try_into().unwrap_or_default());
        let size = u64::from_le_bytes(phdr[32..40].try_into().unwrap_or_default()).min(1 << 20);
        let mut notes = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut notes))
            .map_err(read_error(path))?;
        if notes.windows(6).any(|w| w == b"Linux\0") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// An ELF file's program headers, read with checked offsets (the file is the
/// user's, and may lie about where they are).
fn program_headers(
    path: &Path,
    file: &mut File,
    header: &[u8; 64],
) -> Result<Vec<[u8; 56]>, BootError> {
    let phoff = u64::from_le_bytes(header[0x20..0x28].try_into().unwrap_or_default());
    let phnum = u16::from_le_bytes([header[0x38], header[0x39]]);
    let mut headers = Vec::with_capacity(usize::from(phnum));
    for i in 0..u64::from(phnum) {
        let at = i
            .checked_mul(56)
            .and_then(|o| o.checked_add(phoff))
            .ok_or_else(|| BootError::Load {
                path: path.to_path_buf(),
                detail: format!("its program headers at {phoff:#x} lie past any file"),
            })?;
        let mut phdr = [0u8; 56];
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.read_exact(&mut phdr))
            .map_err(read_error(path))?;
        headers.push(phdr);
    }
    Ok(headers)
}

/// Checks an ELF kernel before linux-loader loads it: an x86-64 program (an ARM
/// kernel would be loaded and then run as garbage until the timeout), whose
/// every PT_LOAD segment fits in guest memory, with checked arithmetic.
fn check_elf_kernel(path: &Path, file: &mut File, mem_end: u64) -> Result<(), BootError> {
    const PT_LOAD: u32 = 1;
    let mut header = [0u8; 64];
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut header))
        .map_err(read_error(path))?;
    let machine = u16::from_le_bytes([header[0x12], header[0x13]]);
    if header[4] != 2 || header[5] != 1 || machine != 62 {
        return Err(BootError::Load {
            path: path.to_path_buf(),
            detail: format!(
                "it is not a 64-bit little-endian x86-64 ELF (class {}, data {}, e_machine {machine})",
                header[4], header[5]
            ),
        });
    }
    for phdr in program_headers(path, file, &header)? {
        if u32::from_le_bytes(phdr[0..4].try_into().unwrap_or_default()) != PT_LOAD {
            continue;
        }
        let field = |at: usize| u64::from_le_bytes(phdr[at..at + 8].try_into().unwrap_or_default());
        let (paddr, file_size, mem_size) = (field(24), field(32), field(40));
        let end = paddr.checked_add(mem_size);
        if file_size > mem_size || end.is_none_or(|end| end > mem_end) {
            return Err(BootError::KernelTooBig {
                path: path.to_path_buf(),
                needed_mib: end.map_or(u64::MAX >> 20, |e| e.div_ceil(1 << 20)),
                have_mib: mem_end >> 20,
            });
        }
    }
    Ok(())
}

/// Reads a bzImage's setup header from `path`.
pub fn bzimage_info(path: &Path) -> Result<BzImageInfo, BootError> {
    let mut file = open(path)?;
    match identify(path, &mut file)? {
        Format::BzImage(h) => Ok(BzImageInfo {
            setup_sects: h.setup_sects,
            protocol: h.version,
            payload_offset: h.payload_offset,
            payload_length: h.payload_length,
            relocatable: h.relocatable_kernel != 0,
            has_64bit_entry: h.version >= 0x0206 && h.xloadflags & XLF_KERNEL_64 != 0,
            pref_address: h.pref_address,
            init_size: h.init_size,
            cmdline_size: h.cmdline_size,
            initrd_addr_max: h.initrd_addr_max,
        }),
        Format::Elf => Err(BootError::NotAKernel(path.to_path_buf())),
    }
}

/// Loads everything and writes the boot parameters. Returns how to enter the
/// kernel and where things went.
pub fn load(
    memory: &GuestMemoryMmap,
    config: &LinuxBootConfig,
) -> Result<(Entry, BootLayout), BootError> {
    let path = config.kernel;
    let mut file = open(path)?;
    let format = identify(path, &mut file)?;
    let max_cmdline = match &format {
        Format::BzImage(h) if h.version >= 0x0206 => {
            (h.cmdline_size as usize).min(CMDLINE_MAX_SIZE - 1)
        }
        _ => CMDLINE_MAX_SIZE - 1,
    };
    if config.cmdline.len() > max_cmdline {
        return Err(BootError::CmdlineTooLong {
            len: config.cmdline.len(),
            max: max_cmdline,
        });
    }
    if config.cmdline.contains('\0') {
        return Err(BootError::CmdlineNul);
    }
    let mem_end = memory.last_addr().raw_value() + 1;
    let loaded = load_kernel(memory, path, &mut file, &format, mem_end)?;
    let kernel_end = loaded.kernel_end;
    let initrd = match config.initrd {
        Some(initrd) => Some(load_initrd(
            memory,
            initrd,
            &format,
            loaded.claimed_end,
            mem_end,
        )?),
        None => None,
    };
    let mut cmdline = config.cmdline.as_bytes().to_vec();
    cmdline.push(0);
    memory
        .write_slice(&cmdline, GuestAddress(CMDLINE_START))
        .map_err(|e| BootError::Params(e.to_string()))?;
    let e820 = vec![
        MemoryRange {
            addr: 0,
            size: EBDA_START,
            kind: E820_RAM,
        },
        MemoryRange {
            addr: HIMEM_START,
            size: mem_end - HIMEM_START,
            kind: E820_RAM,
        },
    ];
    let mut layout = BootLayout {
        kernel_format: match format {
            Format::BzImage(_) => "bzImage",
            Format::Elf => "elf",
        }
        .to_string(),
        protocol: "linux64".to_string(),
        kernel_load: loaded.kernel_load.raw_value(),
        kernel_end,
        entry: 0,
        params_addr: ZERO_PAGE_START,
        cmdline_addr: CMDLINE_START,
        cmdline_len: config.cmdline.len(),
        initrd,
        e820,
    };
    let entry = match (&format, loaded.pvh_boot_cap) {
        (Format::Elf, PvhBootCapability::PvhEntryPresent(pvh)) => {
            write_pvh_start_info(memory, &layout)?;
            layout.protocol = "pvh".to_string();
            layout.params_addr = PVH_INFO_START;
            Entry::Pvh {
                eip: pvh.raw_value(),
                start_info: PVH_INFO_START,
            }
        }
        _ => {
            let header = loaded.setup_header.unwrap_or_default();
            write_zero_page(memory, header, &layout)?;
            // linux-loader reports an ELF's e_entry as its load address.
            let rip = match format {
                Format::BzImage(_) => layout.kernel_load + STARTUP_64_OFFSET,
                Format::Elf => layout.kernel_load,
            };
            Entry::Linux64 {
                rip,
                zero_page: ZERO_PAGE_START,
            }
        }
    };
    layout.entry = match entry {
        Entry::Linux64 { rip, .. } => rip,
        Entry::Pvh { eip, .. } => eip,
    };
    Ok((entry, layout))
}

struct Loaded {
    kernel_load: GuestAddress,
    kernel_end: u64,
    /// The end of the memory the kernel claims: for a bzImage its load address
    /// plus `init_size`, where it decompresses itself, which reaches well past
    /// the compressed image that `kernel_end` ends.
    claimed_end: u64,
    setup_header: Option<setup_header>,
    pvh_boot_cap: PvhBootCapability,
}

fn load_kernel(
    memory: &GuestMemoryMmap,
    path: &Path,
    file: &mut File,
    format: &Format,
    mem_end: u64,
) -> Result<Loaded, BootError> {
    let mut claimed_end = 0;
    if let Format::BzImage(h) = format {
        if h.version < 0x0206 || h.xloadflags & XLF_KERNEL_64 == 0 {
            return Err(BootError::No64BitEntry {
                path: path.to_path_buf(),
                major: h.version >> 8,
                minor: h.version & 0xff,
            });
        }
        // The kernel decompresses itself in place and needs init_size bytes.
        let needed = u64::from(h.code32_start.max(HIMEM_START as u32)) + u64::from(h.init_size);
        claimed_end = needed;
        if needed > mem_end {
            return Err(BootError::KernelTooBig {
                path: path.to_path_buf(),
                needed_mib: needed.div_ceil(1 << 20),
                have_mib: mem_end >> 20,
            });
        }
    }
    if let Format::Elf = format {
        check_elf_kernel(path, file, mem_end)?;
    }
    file.seek(SeekFrom::Start(0)).map_err(read_error(path))?;
    let highmem = Some(GuestAddress(HIMEM_START));
    let result: Result<KernelLoaderResult, _> = match format {
        Format::BzImage(_) => BzImage::load(memory, None, file, highmem),
        Format::Elf => Elf::load(memory, None, file, highmem),
    };
    let result = result.map_err(|e| BootError::Load {
        path: path.to_path_buf(),
        detail: match e {
            linux_loader::loader::Error::Elf(linux_loader::loader::elf::Error::ReadKernelImage)
            | linux_loader::loader::Error::Bzimage(
                linux_loader::loader::bzimage::Error::ReadBzImageCompressedKernel,
            ) => "the kernel does not fit in guest memory, or the file is truncated".into(),
            other => other.to_string(),
        },
    })?;
    Ok(Loaded {
        kernel_load: result.kernel_load,
        kernel_end: result.kernel_end,
        claimed_end: claimed_end.max(result.kernel_end),
        setup_header: result.setup_header,
        pvh_boot_cap: result.pvh_boot_cap,
    })
}

/// Puts the initrd as high as it may go, page-aligned: below the kernel's
/// `initrd_addr_max` and the end of RAM, above all the memory the kernel claims
/// (`claimed_end`). High, so that the kernel's own early allocations, which
/// grow up from the kernel, do not meet it.
fn load_initrd(
    memory: &GuestMemoryMmap,
    path: &Path,
    format: &Format,
    claimed_end: u64,
    mem_end: u64,
) -> Result<InitrdPlacement, BootError> {
    let mut file = open(path)?;
    let metadata = file.metadata().map_err(read_error(path))?;
    if metadata.is_dir() {
        // Opening a directory works; reading it is what fails, later and less clearly.
        return Err(read_error(path)(std::io::Error::from_raw_os_error(
            libc::EISDIR,
        )));
    }
    let size = metadata.len();
    let limit = match format {
        Format::BzImage(h) if h.version >= 0x0203 => u64::from(h.initrd_addr_max) + 1,
        Format::BzImage(_) => 0x3800_0000,
        Format::Elf => mem_end,
    }
    .min(mem_end);
    let too_big = || BootError::InitrdTooBig {
        path: path.to_path_buf(),
        size,
    };
    let addr = limit.checked_sub(size).ok_or_else(too_big)? & !0xfff;
    // Below `claimed_end`, the kernel's decompression would overwrite it.
    if addr < claimed_end.next_multiple_of(0x1000) {
        return Err(too_big());
    }
    memory
        .read_exact_volatile_from(GuestAddress(addr), &mut file, size as usize)
        .map_err(|e| BootError::Load {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    Ok(InitrdPlacement { addr, size })
}

/// The zero page for the 64-bit boot protocol: the bzImage's own setup header
/// (or a minimal one for an ELF), completed with what the loader decided.
fn write_zero_page(
    memory: &GuestMemoryMmap,
    header: setup_header,
    layout: &BootLayout,
) -> Result<(), BootError> {
    let mut params = boot_params {
        hdr: header,
        ..Default::default()
    };
    params.hdr.type_of_loader = 0xff; // "undefined": a loader with no assigned id
    params.hdr.boot_flag = 0xaa55;
    params.hdr.header = HDRS_MAGIC;
    params.hdr.cmd_line_ptr = layout.cmdline_addr as u32;
    params.hdr.cmdline_size = layout.cmdline_len as u32;
    if params.hdr.kernel_alignment == 0 {
        params.hdr.kernel_alignment = 0x0100_0000;
    }
    if let Some(initrd) = layout.initrd {
        params.hdr.ramdisk_image = initrd.addr as u32;
        params.hdr.ramdisk_size = initrd.size as u32;
    }
    for (slot, range) in params.e820_table.iter_mut().zip(&layout.e820) {
        slot.addr = range.addr;
        slot.size = range.size;
        slot.r#type = range.kind;
    }
    params.e820_entries = layout.e820.len() as u8;
    LinuxBootConfigurator::write_bootparams::<GuestMemoryMmap>(
        &BootParams::new::<boot_params>(&params, GuestAddress(ZERO_PAGE_START)),
        memory,
    )
    .map_err(|e| BootError::Params(e.to_string()))
}

/// PVH's start info: the memory map follows it, then the module list (the
/// initrd is module 0).
fn write_pvh_start_info(memory: &GuestMemoryMmap, layout: &BootLayout) -> Result<(), BootError> {
    let memmap: Vec<hvm_memmap_table_entry> = layout
        .e820
        .iter()
        .map(|r| hvm_memmap_table_entry {
            addr: r.addr,
            size: r.size,
            type_: r.kind,
            reserved: 0,
        })
        .collect();
    let memmap_addr = PVH_INFO_START + std::mem::size_of::<hvm_start_info>() as u64;
    let modlist_addr =
        memmap_addr + (memmap.len() * std::mem::size_of::<hvm_memmap_table_entry>()) as u64;
    let mut info = hvm_start_info {
        magic: PVH_MAGIC,
        version: 1,
        cmdline_paddr: layout.cmdline_addr,
        memmap_paddr: memmap_addr,
        memmap_entries: memmap.len() as u32,
        ..Default::default()
    };
    let mut params = BootParams::new(&info, GuestAddress(PVH_INFO_START));
    if let Some(initrd) = layout.initrd {
        info.nr_modules = 1;
        info.modlist_paddr = modlist_addr;
        params = BootParams::new(&info, GuestAddress(PVH_INFO_START));
        let module = hvm_modlist_entry {
            paddr: initrd.addr,
            size: initrd.size,
            ..Default::default()
        };
        params.set_modules(&[module], GuestAddress(modlist_addr));
    }
    params.set_sections(&memmap, GuestAddress(memmap_addr));
    PvhBootConfigurator::write_bootparams::<GuestMemoryMmap>(&params, memory)
        .map_err(|e| BootError::Params(e.to_string()))
}
