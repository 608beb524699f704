//! Reading a static x86-64 Linux program: its ELF header and program headers.
//!
//! Written by hand rather than with a crate, because what a loader needs is
//! small and worth seeing: the header says where the program headers are and
//! where execution starts; each `PT_LOAD` program header says "put these file
//! bytes at this address, and this many zero bytes after them". A `PT_INTERP`
//! header names a dynamic loader, which a VM with no guest kernel and no files
//! cannot run, so such a program is refused.

use std::path::{Path, PathBuf};

/// What is wrong with the program.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not an ELF file")]
    NotElf(PathBuf),
    #[error(
        "{path} is {size} bytes, more than the largest guest memory ({} MiB) could hold",
        MAX_PROGRAM_BYTES >> 20
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path} is not a 64-bit little-endian x86-64 program ({detail})")]
    WrongMachine { path: PathBuf, detail: String },
    #[error(
        "{path} is an ELF of type {kind}, not an executable (ET_EXEC) or a static PIE (ET_DYN)"
    )]
    WrongType { path: PathBuf, kind: u16 },
    #[error("{0} needs a dynamic loader (PT_INTERP): build it static (e.g. musl-gcc -static)")]
    Dynamic(PathBuf),
    #[error("{path} is malformed: {detail}")]
    Malformed { path: PathBuf, detail: String },
    #[error("{path}: segments {first:#x}..{first_end:#x} and {second:#x}..{second_end:#x} overlap")]
    Overlap {
        path: PathBuf,
        first: u64,
        first_end: u64,
        second: u64,
        second_end: u64,
    },
    #[error("{path}: the entry point {entry:#x} is outside every executable segment")]
    EntryOutside { path: PathBuf, entry: u64 },
}

/// One `PT_LOAD` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Where it goes (virtual address, before any PIE base).
    pub vaddr: u64,
    /// Bytes in memory; those past `file_size` are zero (.bss).
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub executable: bool,
    pub writable: bool,
}

/// A program, parsed and checked.
#[derive(Debug, Clone)]
pub struct Program {
    pub bytes: Vec<u8>,
    /// ET_DYN: position-independent, loaded at a base of our choosing.
    pub pie: bool,
    pub entry: u64,
    pub segments: Vec<Segment>,
    /// Where the program headers are in the file, and how many (for AT_PHDR).
    pub phoff: u64,
    pub phnum: u16,
}

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const EM_X86_64: u16 = 62;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
/// Size of one program header in ELF64.
pub const PHENT_SIZE: u64 = 56;

struct Reader<'a> {
    bytes: &'a [u8],
    path: &'a Path,
}

impl Reader<'_> {
    fn field<const N: usize>(&self, offset: u64) -> Result<[u8; N], ElfError> {
        usize::try_from(offset)
            .ok()
            .and_then(|o| self.bytes.get(o..o.checked_add(N)?))
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ElfError::Malformed {
                path: self.path.to_path_buf(),
                detail: format!(
                    "the file ends before offset {:#x}",
                    offset.saturating_add(N as u64)
                ),
            })
    }
    fn u16(&self, offset: u64) -> Result<u16, ElfError> {
        self.field(offset).map(u16::from_le_bytes)
    }
    fn u32(&self, offset: u64) -> Result<u32, ElfError> {
        self.field(offset).map(u32::from_le_bytes)
    }
    fn u64(&self, offset: u64) -> Result<u64, ElfError> {
        self.field(offset).map(u64::from_le_bytes)
    }
}

/// The largest program file read: what the largest guest memory could hold.
pub const MAX_PROGRAM_BYTES: u64 = crate::layout::MAX_MEM_MIB << 20;

/// Reads and checks `path`: a regular file only (`/dev/zero` or a FIFO would be
/// read without end), of at most [`MAX_PROGRAM_BYTES`].
pub fn read(path: &Path) -> Result<Program, ElfError> {
    let fail = |source| ElfError::Read {
        path: path.to_path_buf(),
        source,
    };
    let (file, size) = runtime::image::source::open_regular(path).map_err(|e| match e {
        runtime::image::source::SourceError::Io { source, .. } => fail(source),
        other => fail(std::io::Error::other(other.to_string())),
    })?;
    if size > MAX_PROGRAM_BYTES {
        return Err(ElfError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_PROGRAM_BYTES),
        &mut bytes,
    )
    .map_err(fail)?;
    parse(path, bytes)
}

/// Checks an ELF image already in memory.
pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<Program, ElfError> {
    let r = Reader {
        bytes: &bytes,
        path,
    };
    if !bytes.starts_with(b"\x7fELF") {
        return Err(ElfError::NotElf(path.to_path_buf()));
    }
    let (class, data, machine) = (bytes.get(4), bytes.get(5), r.u16(0x12)?);
    if class != Some(&2) || data != Some(&1) || machine != EM_X86_64 {
        return Err(ElfError::WrongMachine {
            path: path.to_path_buf(),
            detail: format!(
                "class {:?}, data {:?}, e_machine {machine}",
                class.copied().unwrap_or(0),
                data.copied().unwrap_or(0)
            ),
        });
    }
    let kind = r.u16(0x10)?;
    if kind != ET_EXEC && kind != ET_DYN {
        return Err(ElfError::WrongType {
            path: path.to_path_buf(),
            kind,
        });
    }
    let entry = r.u64(0x18)?;
    let phoff = r.u64(0x20)?;
    let phentsize = r.u16(0x36)?;
    let phnum = r.u16(0x38)?;
    if u64::from(phentsize) != PHENT_SIZE {
        return Err(ElfError::Malformed {
            path: path.to_path_buf(),
            detail: format!("program headers of {phentsize} bytes, not {PHENT_SIZE}"),
        });
    }
    let mut segments = Vec::new();
    for i in 0..u64::from(phnum) {
        let at = i
            .checked_mul(PHENT_SIZE)
            .and_then(|o| o.checked_add(phoff))
            .ok_or_else(|| ElfError::Malformed {
                path: path.to_path_buf(),
                detail: format!("program headers at {phoff:#x} lie past the end of any file"),
            })?;
        let kind = r.u32(at)?;
        if kind == PT_INTERP {
            return Err(ElfError::Dynamic(path.to_path_buf()));
        }
        if kind != PT_LOAD {
            continue;
        }
        let flags = r.u32(at + 4)?;
        let segment = Segment {
            file_offset: r.u64(at + 8)?,
            vaddr: r.u64(at + 16)?,
            file_size: r.u64(at + 32)?,
            mem_size: r.u64(at + 40)?,
            executable: flags & PF_X != 0,
            writable: flags & PF_W != 0,
        };
        check_segment(path, &bytes, &segment)?;
        segments.push(segment);
    }
    check_layout(path, &segments, entry)?;
    Ok(Program {
        bytes,
        pie: kind == ET_DYN,
        entry,
        segments,
        phoff,
        phnum,
    })
}

fn check_segment(path: &Path, bytes: &[u8], s: &Segment) -> Result<(), ElfError> {
    let malformed = |detail: String| ElfError::Malformed {
        path: path.to_path_buf(),
        detail,
    };
    if s.file_size > s.mem_size {
        return Err(malformed(format!(
            "a segment at {:#x} has more file bytes than memory",
            s.vaddr
        )));
    }
    let file_end = s
        .file_offset
        .checked_add(s.file_size)
        .ok_or_else(|| malformed("a segment's file range overflows".into()))?;
    if file_end > bytes.len() as u64 {
        return Err(malformed(format!(
            "a segment reads file bytes up to {file_end:#x}, past the end of the file"
        )));
    }
    s.vaddr
        .checked_add(s.mem_size)
        .ok_or_else(|| malformed("a segment's address range overflows".into()))?;
    Ok(())
}

/// Segments must not overlap (page granularity, as a loader maps them), and the
/// entry point must be inside an executable one.
fn check_layout(path: &Path, segments: &[Segment], entry: u64) -> Result<(), ElfError> {
    if segments.is_empty() {
        return Err(ElfError::Malformed {
            path: path.to_path_buf(),
            detail: "no PT_LOAD segment".into(),
        });
    }
    let mut sorted = segments.to_vec();
    sorted.sort_by_key(|s| s.vaddr);
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let a_end = a.vaddr + a.mem_size;
        // Two segments may share a page (the linker does this), not bytes.
        if a_end > b.vaddr {
            return Err(ElfError::Overlap {
                path: path.to_path_buf(),
                first: a.vaddr,
                first_end: a_end,
                second: b.vaddr,
                second_end: b.vaddr + b.mem_size,
            });
        }
    }
    let inside = segments
        .iter()
        .any(|s| s.executable && (s.vaddr..s.vaddr + s.mem_size).contains(&entry));
    if !inside {
        return Err(ElfError::EntryOutside {
            path: path.to_path_buf(),
            entry,
        });
    }
    Ok(())
}
