//! Semihosting: the configuration file, and the line protocol to the host
//! script on QEMU's stdout.
//!
//! | line | meaning for `scripts/qemu-fetch-token` |
//! | --- | --- |
//! | `OUT <line>` | a line of the CLI's stdout |
//! | `ERR <line>` | a line of the CLI's stderr |
//! | `EXIT <code>` | the exit status (0, 1 or 2); the firmware then ends QEMU |
//! | `REPORT key=value` | a measurement |
//! | `USAGE` | the last `ERR` was a usage error: the script prints its usage line |
//! | `STATUS <text>` | progress (shown with `--verbose`); `STATUS config-read` lets the script delete the file holding the secret |
//!
//! Nothing secret is written except what the CLI itself prints
//! (`access_token=`).

use core::cell::Cell;
use core::fmt::{self, Write as _};

use cortex_m::interrupt::{self, Mutex};
use cortex_m_semihosting::{debug, hio, nr};

/// QEMU's stdout, opened on first use (`:tt`).
static STDOUT: Mutex<Cell<Option<hio::HostStream>>> = Mutex::new(Cell::new(None));

fn stdout() -> Option<hio::HostStream> {
    interrupt::free(|cs| {
        let cell = STDOUT.borrow(cs);
        if cell.get().is_none() {
            cell.set(hio::hstdout().ok());
        }
        cell.get()
    })
}

fn line(tag: &str, args: fmt::Arguments<'_>) {
    if let Some(mut out) = stdout() {
        let _ = out.write_str(tag);
        let _ = out.write_fmt(args);
        let _ = out.write_str("\n");
    }
}

/// `OUT …`: a line of the CLI's stdout.
pub fn out(args: fmt::Arguments<'_>) {
    line("OUT ", args);
}

/// `ERR …`: a line of the CLI's stderr.
pub fn err(args: fmt::Arguments<'_>) {
    line("ERR ", args);
}

/// `USAGE`: the last `ERR` was a usage error.
pub fn usage_marker() {
    line("USAGE", format_args!(""));
}

/// `REPORT key=value`.
pub fn report(key: &str, value: u64) {
    line("REPORT ", format_args!("{key}={value}"));
}

/// `REPORT <what>_<phase>_<part>=value`.
pub fn report_pair(what: &str, phase: &str, part: &str, value: u64) {
    line("REPORT ", format_args!("{what}_{phase}_{part}={value}"));
}

/// `STATUS …`: progress, for `--verbose`.
pub fn status(args: fmt::Arguments<'_>) {
    line("STATUS ", args);
}

/// `EXIT code`, then ends QEMU (its own status: 0 for 0, else 1).
pub fn exit(code: u8) -> ! {
    line("EXIT ", format_args!("{code}"));
    exit_qemu(code == 0)
}

/// Ends the QEMU run.
pub fn exit_qemu(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Not under QEMU or a debugger: nothing to return to.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Why the configuration file could not be read.
#[derive(Debug, Clone, Copy)]
pub enum FileError {
    /// `SYS_OPEN` failed (no such file in QEMU's current directory).
    Open,
    /// `SYS_FLEN` failed.
    Length,
    /// Bigger than the buffer.
    TooBig {
        /// The file's length.
        len: usize,
    },
    /// `SYS_READ` returned less than the length.
    Short,
}

/// Reads the host file `name` (NUL-terminated, relative to QEMU's current
/// directory) into `buf`; returns its length.
pub fn read_file(name: &[u8], buf: &mut [u8]) -> Result<usize, FileError> {
    let Some((&0, path)) = name.split_last() else {
        return Err(FileError::Open);
    };
    // SAFETY: SYS_OPEN reads `path.len()` bytes of the NUL-terminated name.
    let fd = unsafe {
        cortex_m_semihosting::syscall!(OPEN, name.as_ptr(), nr::open::R_BINARY, path.len())
    };
    if fd as isize == -1 {
        return Err(FileError::Open);
    }
    let result = (|| {
        // SAFETY: SYS_FLEN only takes the handle.
        let len = unsafe { cortex_m_semihosting::syscall!(FLEN, fd) } as isize;
        let len = usize::try_from(len).map_err(|_| FileError::Length)?;
        let dst = buf.get_mut(..len).ok_or(FileError::TooBig { len })?;
        // SAFETY: SYS_READ writes at most `len` bytes into `dst`, which is
        // `len` bytes of writable memory.
        let not_read = unsafe { cortex_m_semihosting::syscall!(READ, fd, dst.as_mut_ptr(), len) };
        if not_read != 0 {
            return Err(FileError::Short);
        }
        Ok(len)
    })();
    // SAFETY: SYS_CLOSE only takes the handle.
    unsafe { cortex_m_semihosting::syscall!(CLOSE, fd) };
    result
}

/// A run that failed: the reason is already on the console (`ERR` lines);
/// the value is the exit status. One byte, so that `Result<T, Exit>` costs
/// no stack (a message buffer in every `Result` would).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(pub u8);

/// `ERR error: …`; exit status 1.
#[cold]
#[inline(never)]
pub fn fail(args: fmt::Arguments<'_>) -> Exit {
    err(format_args!("error: {args}"));
    Exit(1)
}

/// A usage error as `fetch_token` reports it: `ERR error: …` and `USAGE`
/// (the script adds its usage line); exit status 1.
#[cold]
#[inline(never)]
pub fn fail_usage(args: fmt::Arguments<'_>) -> Exit {
    err(format_args!("error: {args}"));
    usage_marker();
    Exit(1)
}

/// `fail(format_args!(…))`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        $crate::console::fail(format_args!($($arg)*))
    };
}

/// `fail_usage(format_args!(…))`.
#[macro_export]
macro_rules! usage {
    ($($arg:tt)*) => {
        $crate::console::fail_usage(format_args!($($arg)*))
    };
}
