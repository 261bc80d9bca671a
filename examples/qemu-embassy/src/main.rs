//! An emulated embassy board: QEMU's `mps2-an385` (Cortex-M3, 25 MHz) with
//! its network over PPP on UART0, running `board-common`'s two tasks as the
//! Pico W and the ESP32-C3 do:
//!
//! * the **token task** owns the OAuth 2.0 `Client`, fetches a token from
//!   `OAUTH_TOKEN_URL` over verified TLS 1.3, publishes it and renews it;
//! * the **service task** calls `SERVICE_URL` with `Authorization: Bearer`
//!   from the published token, over its own TLS connection.
//!
//! This file is only the board: the time driver (SysTick, `time.rs`), the
//! UART (`uart.rs`), PPP (embassy-net-ppp) under embassy-net, randomness
//! from the host (`rng.rs`) and the log (semihosting, `logger.rs`). The
//! host names in the URLs are resolved by DNS, with the servers that the
//! PPP peer hands out in IPCP.
//! The main stack is painted at boot (`stack.rs`) and its peak printed at
//! the exit.
//!
//! Configuration: the build environment, as for the other boards
//! (`../board-common/README.md`), plus `QEMU_EMBASSY_EXIT_AFTER` (exit
//! with status 0 after that many service calls answered 2xx),
//! `PPP_USERNAME`/`PPP_PASSWORD` (PAP, if the peer asks) and
//! `QEMU_EMBASSY_LOG` (the log level). See README.md.
#![no_std]
#![no_main]

mod executor;
mod logger;
mod measure;
mod rng;
mod stack;
mod time;
mod uart;

use board_common::service::{self, ServiceResources};
use board_common::token_task::{self, TokenResources};
use board_common::{HEADER_CAP, SOCKETS, TokenCell};
use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use embassy_executor::Spawner;
use embassy_net::{ConfigV4, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_time::{Duration, Timer};
use log::{error, info, warn};
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use static_cell::{ConstStaticCell, StaticCell};

use crate::executor::Executor;
use crate::uart::Uart0;

// ---- build-time settings (besides board-common's) ---------------------------

/// Exit with status 0 after this many service calls answered 2xx (unset or
/// 0: run for ever).
const EXIT_AFTER: u32 = parse_u32(option_env!("QEMU_EMBASSY_EXIT_AFTER"));
/// PAP credentials, used only if the peer asks for authentication.
const PPP_USERNAME: &str = match option_env!("PPP_USERNAME") {
    Some(v) => v,
    None => "device",
};
const PPP_PASSWORD: &str = match option_env!("PPP_PASSWORD") {
    Some(v) => v,
    None => "device",
};

const fn parse_u32(v: Option<&str>) -> u32 {
    let Some(v) = v else { return 0 };
    let b = v.as_bytes();
    let mut n: u32 = 0;
    let mut i = 0;
    while i < b.len() {
        assert!(
            b[i].is_ascii_digit(),
            "QEMU_EMBASSY_EXIT_AFTER must be a number"
        );
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

// ---- static memory ----------------------------------------------------------

/// The published token (see `board_common::publish`).
static TOKEN: TokenCell<HEADER_CAP> = TokenCell::new();
/// Each task's buffers, in .bss (`ConstStaticCell`: never copied through
/// the stack).
static TOKEN_RESOURCES: ConstStaticCell<TokenResources> =
    ConstStaticCell::new(TokenResources::new());
static SERVICE_RESOURCES: ConstStaticCell<ServiceResources> =
    ConstStaticCell::new(ServiceResources::new());
static NET_RESOURCES: ConstStaticCell<StackResources<SOCKETS>> =
    ConstStaticCell::new(StackResources::new());
/// embassy-net-ppp's packet queues: 4 packets each way.
static PPP_STATE: ConstStaticCell<embassy_net_ppp::State<4, 4>> =
    ConstStaticCell::new(embassy_net_ppp::State::new());

// ---- tasks ------------------------------------------------------------------

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, embassy_net_ppp::Device<'static>>) -> ! {
    runner.run().await
}

/// PPP over UART0: negotiates LCP and IPCP, then carries the stack's
/// packets. On IPCP up it gives the stack the address and the DNS servers
/// the peer assigned; when the link ends it starts again.
#[embassy_executor::task]
async fn ppp_task(
    stack: Stack<'static>,
    mut runner: embassy_net_ppp::Runner<'static>,
    mut uart: Uart0,
) -> ! {
    loop {
        info!("ppp: starting on UART0");
        let config = embassy_net_ppp::Config {
            username: PPP_USERNAME.as_bytes(),
            password: PPP_PASSWORD.as_bytes(),
        };
        let result = runner
            .run(&mut uart, config, |ipv4| {
                let Some(address) = ipv4.address else {
                    warn!("ppp: IPCP gave no address");
                    return;
                };
                let mut dns_servers = heapless::Vec::new();
                for server in ipv4.dns_servers.iter().flatten() {
                    let _ = dns_servers.push(*server);
                }
                if dns_servers.is_empty() {
                    warn!("ppp: IPCP gave no DNS server: names will not resolve");
                }
                info!(
                    "ppp: up {} peer {} dns {:?}",
                    address,
                    ipv4.peer_address
                        .map_or(embassy_net::Ipv4Address::UNSPECIFIED, |a| a),
                    dns_servers.as_slice()
                );
                // A point-to-point link: everything goes to the peer, so
                // the whole address space is "on link" (a /0, no gateway).
                stack.set_config_v4(ConfigV4::Static(StaticConfigV4 {
                    address: Ipv4Cidr::new(address, 0),
                    gateway: None,
                    dns_servers,
                }));
            })
            .await;
        match result {
            Err(e) => warn!("ppp: link ended ({:?}); starting again in 1 s", e),
        }
        stack.set_config_v4(ConfigV4::None);
        Timer::after(Duration::from_secs(1)).await;
    }
}

#[embassy_executor::task]
async fn token_task(
    stack: Stack<'static>,
    resources: &'static mut TokenResources,
    tls_rng: ChaCha20Rng,
    jitter: ChaCha20Rng,
) -> ! {
    // No wall clock and no retained memory: every boot fetches, no token
    // is exported (no store: `()`), as on the Pico W.
    token_task::run(stack, resources, &TOKEN, tls_rng, jitter, || None, ()).await
}

#[embassy_executor::task]
async fn service_task(
    stack: Stack<'static>,
    resources: &'static mut ServiceResources,
    tls_rng: ChaCha20Rng,
) -> ! {
    service::run(stack, resources, &TOKEN, tls_rng).await
}

// ---- main -------------------------------------------------------------------

/// The entry: paints the main stack, then runs the executor on it (what
/// `#[embassy_executor::main]` would do, with the paint first and this
/// board's executor, `executor.rs`).
#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    static EXECUTOR: StaticCell<Executor> = StaticCell::new();
    EXECUTOR
        .init(Executor::new())
        .run(|spawner| spawner.spawn(main_task(spawner).expect("main task")))
}

#[embassy_executor::task]
async fn main_task(spawner: Spawner) {
    logger::init();
    let core = cortex_m::Peripherals::take().expect("core peripherals, once");
    time::init(core.SYST);
    info!("embedded-oauth2 on QEMU mps2-an385 (embassy, PPP on UART0)");

    let (Some(mut net_rng), Some(token_rng), Some(jitter), Some(service_rng)) =
        (rng::seeded(), rng::seeded(), rng::seeded(), rng::seeded())
    else {
        error!("no randomness: semihosting could not read the host's /dev/urandom");
        debug::exit(EXIT_FAILURE);
        loop {
            Timer::after(Duration::from_secs(3600)).await;
        }
    };

    let (device, ppp_runner) = embassy_net_ppp::new(PPP_STATE.take());
    // No address until IPCP gives one (`ppp_task`).
    let (stack, net_runner) = embassy_net::new(
        device,
        embassy_net::Config::default(),
        NET_RESOURCES.take(),
        net_rng.next_u64(),
    );
    spawner.spawn(net_task(net_runner).expect("net task"));
    spawner.spawn(ppp_task(stack, ppp_runner, Uart0::init()).expect("ppp task"));
    // The two tasks wait for the network themselves.
    spawner
        .spawn(token_task(stack, TOKEN_RESOURCES.take(), token_rng, jitter).expect("token task"));
    spawner
        .spawn(service_task(stack, SERVICE_RESOURCES.take(), service_rng).expect("service task"));

    let Some(limit) = core::num::NonZeroU32::new(EXIT_AFTER) else {
        return;
    };
    loop {
        let n = logger::SERVICE_OK_SIGNAL.wait().await;
        if n >= limit.get() {
            info!("exit: {} service calls answered 2xx", n);
            let (peak, painted) = stack::report();
            info!("stack: peak {} bytes (of {} painted)", peak, painted);
            debug::exit(EXIT_SUCCESS);
        }
    }
}

// ---- interrupts and faults ----------------------------------------------------

/// The device interrupts (cortex-m-rt's table points them all here).
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    match irqn {
        0 => uart::on_rx_interrupt(),
        1 => uart::on_tx_interrupt(),
        _ => panic!("unexpected exception or interrupt {}", irqn),
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    logger::write_line(format_args!("HARD FAULT at pc={:#010x}", frame.pc()));
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    logger::write_line(format_args!("PANIC: {}", info));
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
