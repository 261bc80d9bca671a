//! The `log` facade (board-common's `log` feature) printed on the host's
//! stdout over semihosting, one `SYS_WRITE` a line:
//!
//! ```text
//!    1.234 INFO  board_common::token_task: token 1 published, valid 299 s more
//! ```
//!
//! (seconds since boot, level, target, message). board-common never logs
//! the secret or a token (its types cannot be formatted), and neither does
//! this board.
//!
//! It also counts the service task's successful calls for
//! `QEMU_EMBASSY_EXIT_AFTER`: board-common's service task logs
//! `service answered <status> (<n> bytes)` for each answer that is not a
//! refusal; a status of 2xx counts. It calls the marks of `measure.rs` at
//! those lines and at `token <n> published, ...`. (Read from the log so that
//! board-common runs unchanged; if that line changes, a run with
//! `QEMU_EMBASSY_EXIT_AFTER` no longer ends and its test times out.)

use core::cell::RefCell;
use core::fmt::{self, Write as _};
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m_semihosting::hio::{self, HostStream};
use critical_section::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use log::{LevelFilter, Log, Metadata, Record};

/// The host's stdout, opened on first use.
static STDOUT: Mutex<RefCell<Option<HostStream>>> = Mutex::new(RefCell::new(None));

/// Calls of the service answered with 2xx.
pub static SERVICE_OK: AtomicU32 = AtomicU32::new(0);
/// Signalled with the new count at each such call.
pub static SERVICE_OK_SIGNAL: Signal<CriticalSectionRawMutex, u32> = Signal::new();

/// One log line, cut at its capacity.
struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Line {
    const fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep room for the newline.
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes `bytes` to the host's stdout (nothing if it cannot be opened).
pub fn write_bytes(bytes: &[u8]) {
    critical_section::with(|cs| {
        let mut stdout = STDOUT.borrow(cs).borrow_mut();
        if stdout.is_none() {
            *stdout = hio::hstdout().ok();
        }
        if let Some(out) = stdout.as_mut() {
            let _ = out.write_all(bytes);
        }
    });
}

/// Writes one line (`args` and a newline), cut at 255 bytes.
pub fn write_line(args: fmt::Arguments<'_>) {
    let mut line = Line::new();
    let _ = line.write_fmt(args);
    line.buf[line.len] = b'\n';
    line.len += 1;
    write_bytes(line.bytes());
}

struct SemihostingLogger;

impl Log for SemihostingLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ms = embassy_time::Instant::now().as_millis();
        let mut line = Line::new();
        let _ = write!(
            line,
            "{:>4}.{:03} {:<5} {}: ",
            ms / 1000,
            ms % 1000,
            record.level(),
            record.target()
        );
        let message_at = line.len;
        let _ = line.write_fmt(*record.args());
        let message = &line.bytes()[message_at..];
        if record.target() == "board_common::service" && message.starts_with(b"service answered 2")
        {
            crate::measure::qemu_embassy_mark_service_ok();
            let n = SERVICE_OK.fetch_add(1, Ordering::Relaxed) + 1;
            SERVICE_OK_SIGNAL.signal(n);
        }
        if record.target() == "board_common::token_task"
            && message.starts_with(b"token ")
            && message.windows(11).any(|w| w == b" published,")
        {
            crate::measure::qemu_embassy_mark_token();
        }
        line.buf[line.len] = b'\n';
        line.len += 1;
        write_bytes(line.bytes());
    }

    fn flush(&self) {}
}

static LOGGER: SemihostingLogger = SemihostingLogger;

/// Installs the logger; `QEMU_EMBASSY_LOG` (build time: `error`, `warn`,
/// `info`, `debug`, `trace`) sets the level, `info` by default (`debug`
/// shows embassy-net-ppp's PPP negotiation).
pub fn init() {
    let level = match option_env!("QEMU_EMBASSY_LOG") {
        Some("error") => LevelFilter::Error,
        Some("warn") => LevelFilter::Warn,
        Some("debug") => LevelFilter::Debug,
        Some("trace") => LevelFilter::Trace,
        _ => LevelFilter::Info,
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
