//! Greenlet stacks: anonymous memory mappings with a `PROT_NONE` guard region
//! below the usable part, so that running off the end faults instead of
//! scribbling over a neighbour.
//!
//! This is one of the fenced files of the crate that hold `unsafe` (see
//! lib.rs); everything here is plain `mmap`/`munmap`.

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::io;
use std::ptr::NonNull;
use std::sync::OnceLock;

/// The smallest usable stack guv hands out. Smaller requests are rounded up,
/// as `std::thread::Builder::stack_size` rounds up to `PTHREAD_STACK_MIN`.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;

/// The largest stack a greenlet may ask for. Anything above is almost
/// certainly a unit mistake and is refused with `InvalidInput`.
pub(crate) const MAX_STACK_SIZE: usize = 1 << 30;

/// Bytes of `PROT_NONE` below every stack. More than one page, so that a
/// frame larger than a page (C code compiled without stack-clash probes,
/// called through FFI) still lands in the guard rather than jumping over it
/// into a neighbouring mapping. It costs address space only.
pub(crate) const GUARD_SIZE: usize = 64 * 1024;

/// The guard size rounded to whole pages.
fn guard_size() -> usize {
    GUARD_SIZE.div_ceil(page_size()) * page_size()
}

/// The system page size, read once.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions; it only reads a constant.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 { n as usize } else { 4096 }
    })
}

/// Rounds a requested stack size to what [`Stack::new`] maps: at least
/// [`MIN_STACK_SIZE`], a whole number of pages. Sizes above
/// [`MAX_STACK_SIZE`] are an error that names the limit.
pub(crate) fn normalize_size(requested: usize) -> io::Result<usize> {
    if requested > MAX_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "guv: a greenlet stack of {requested} bytes was requested; the maximum is {MAX_STACK_SIZE} bytes (1 GiB)"
            ),
        ));
    }
    let page = page_size();
    let size = requested.max(MIN_STACK_SIZE);
    Ok(size.div_ceil(page) * page)
}

/// An owned stack mapping: a guard region followed by `usable` bytes.
///
/// # Invariant
///
/// `base` is the start of a live private anonymous mapping of
/// `guard_size() + usable` bytes created by [`Stack::new`]; its first `guard_size()` bytes are
/// `PROT_NONE`, the rest is readable and writable. The mapping is released in
/// `Drop` and nowhere else.
pub(crate) struct Stack {
    base: NonNull<u8>,
    usable: usize,
}

impl Stack {
    /// Maps a new stack with `usable` bytes (already normalized) plus a
    /// guard page.
    pub(crate) fn new(usable: usize) -> io::Result<Stack> {
        let guard = guard_size();
        let total = usable + guard;
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choosing touches no existing memory; the result is checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(map_error(io::Error::last_os_error(), usable));
        }
        // SAFETY: `ptr` is the start of the `total`-byte mapping just created
        // and `guard <= total`; making its first bytes inaccessible is the guard.
        let rc = unsafe { libc::mprotect(ptr, guard, libc::PROT_NONE) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: unmapping exactly the mapping created above, which
            // nothing else refers to yet.
            unsafe { libc::munmap(ptr, total) };
            return Err(map_error(err, usable));
        }
        let base = NonNull::new(ptr.cast::<u8>()).expect("mmap returned a null mapping");
        Ok(Stack { base, usable })
    }

    /// The highest address of the stack (stacks grow down from here).
    pub(crate) fn top(&self) -> *mut u8 {
        // SAFETY: by the invariant the mapping spans guard + usable bytes, so
        // the end pointer is one past its last byte, which is allowed.
        unsafe { self.base.as_ptr().add(guard_size() + self.usable) }
    }

    /// The lowest usable address (just above the guard page).
    pub(crate) fn bottom(&self) -> *mut u8 {
        // SAFETY: the guard is the first `guard_size()` bytes of the mapping.
        unsafe { self.base.as_ptr().add(guard_size()) }
    }

    /// Usable bytes, excluding the guard page.
    pub(crate) fn size(&self) -> usize {
        self.usable
    }

    /// The guard page's address range `[lo, hi)`.
    pub(crate) fn guard(&self) -> (usize, usize) {
        let lo = self.base.as_ptr() as usize;
        (lo, lo + guard_size())
    }

    /// Tells AddressSanitizer that no frame lives on the usable part any
    /// more; called when the stack is given to a new fiber. Only built with
    /// `--cfg guv_asan` (see "Dynamic checkers" in docs/ARCHITECTURE.md):
    /// the frames a greenlet leaves by its final switch or by unwinding
    /// never run their epilogues, so their redzones stay poisoned in ASan's
    /// shadow, and the next greenlet on a pooled stack would be reported
    /// for writing into them.
    #[cfg(guv_asan)]
    pub(crate) fn clear_sanitizer_shadow(&self) {
        unsafe extern "C" {
            fn __asan_unpoison_memory_region(addr: *const u8, size: usize);
        }
        // SAFETY: the range is the usable part of our live mapping (the
        // invariant), on which no frame lives (the caller's fiber is new);
        // the call only rewrites ASan's shadow of it.
        unsafe { __asan_unpoison_memory_region(self.bottom(), self.usable) };
    }

    /// Does nothing: built without `--cfg guv_asan`.
    #[cfg(not(guv_asan))]
    #[inline(always)]
    pub(crate) fn clear_sanitizer_shadow(&self) {}
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the invariant says `base` starts a live mapping of exactly
        // this length that only this value owns; it is unmapped once, here.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.usable + guard_size()) };
    }
}

/// Turns a failed `mmap`/`mprotect` into an error that names the usual cause.
fn map_error(err: io::Error, usable: usize) -> io::Error {
    if err.raw_os_error() != Some(libc::ENOMEM) {
        return io::Error::new(err.kind(), format!("guv: cannot map a greenlet stack of {usable} bytes: {err}"));
    }
    let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count").ok().and_then(|s| s.trim().parse::<u64>().ok());
    let limit = match limit {
        Some(n) => format!("vm.max_map_count = {n}, about {} greenlets", n / 2),
        None => "vm.max_map_count".to_string(),
    };
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!(
            "guv: cannot map a greenlet stack of {usable} bytes ({err}): the process is out of memory \
             mappings or address space. Each live greenlet uses two kernel memory mappings (its \
             stack and a guard page) and Linux allows {limit} per process. Raise the limit with \
             `sysctl -w vm.max_map_count=4194304` (about two million greenlets), use smaller stacks, or fewer \
             greenlets."
        ),
    )
}
