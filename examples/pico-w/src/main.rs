//! Raspberry Pi Pico W: joins Wi-Fi, gets an address by DHCP, and runs the
//! two tasks of `board-common`:
//!
//! * the **token task** owns the OAuth 2.0 `Client`, fetches a token from
//!   `OAUTH_TOKEN_URL` over verified TLS 1.3 (`embedded_oauth2::tls`),
//!   publishes it and renews it before it expires;
//! * the **service task** calls `SERVICE_URL` with `Authorization: Bearer`
//!   from the published token, over its own TLS connection.
//!
//! This file is only the board: clocks, the CYW43439 over PIO SPI, the
//! network stack, randomness, and the Wi-Fi join loop. Configuration: the
//! build environment (`../board-common/README.md`); logs: defmt over RTT
//! (`probe-rs run`), never the secret or the token.
#![no_std]
#![no_main]

use board_common::config::SETTINGS;
use board_common::net::{Configured, wait_configured};
use board_common::service::{self, ServiceResources};
use board_common::token_task::{self, TokenResources};
use board_common::{HEADER_CAP, SOCKETS, TokenCell};
use cyw43::{A4, Aligned, JoinOptions};
use cyw43_pio::{DEFAULT_CLOCK_DIVIDER, PioSpi};
use defmt::{error, info, warn};
use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_rp::clocks::RoscRng;
use embassy_rp::gpio::{Level, Output};
use embassy_rp::peripherals::{DMA_CH0, PIO0};
use embassy_rp::pio::{self, Pio};
use embassy_rp::{bind_interrupts, dma};
use embassy_time::{Duration, Timer};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use static_cell::{ConstStaticCell, StaticCell};
use {defmt_rtt as _, panic_probe as _};

bind_interrupts!(struct Irqs {
    PIO0_IRQ_0 => pio::InterruptHandler<PIO0>;
    DMA_IRQ_0 => dma::InterruptHandler<DMA_CH0>;
});

// ---- the CYW43439's blobs -------------------------------------------------------

/// Wi-Fi firmware, from the `cyw43-firmware` crate (licence: README.md),
/// copied at compile time into a 4-byte aligned static in flash, as the
/// driver requires.
static FIRMWARE: &Aligned<A4, [u8]> = &Aligned(*cyw43_firmware::CYW43_43439A0);
/// Country locale matrix, from the same crate.
static CLM: &[u8] = cyw43_firmware::CYW43_43439A0_CLM;
/// The chip's NVRAM: `CYW43_NVRAM` at build time, or an empty placeholder
/// (see build.rs).
static NVRAM: &Aligned<A4, [u8]> = &Aligned(*include_bytes!(env!("PICO_W_NVRAM")));
/// Whether [`NVRAM`] is the placeholder: then Wi-Fi is not started.
const NVRAM_PLACEHOLDER: bool = matches!(env!("PICO_W_NVRAM_PLACEHOLDER").as_bytes(), b"1");

// ---- static memory ---------------------------------------------------------------

/// The published token (see `board_common::publish`).
static TOKEN: TokenCell<HEADER_CAP> = TokenCell::new();
/// Each task's buffers, in .bss (`ConstStaticCell`: never copied through
/// the stack).
static TOKEN_RESOURCES: ConstStaticCell<TokenResources> =
    ConstStaticCell::new(TokenResources::new());
static SERVICE_RESOURCES: ConstStaticCell<ServiceResources> =
    ConstStaticCell::new(ServiceResources::new());
/// The driver's state is not `Send`, so it cannot be a `ConstStaticCell`.
static CYW43_STATE: StaticCell<cyw43::State> = StaticCell::new();
static NET_RESOURCES: ConstStaticCell<StackResources<SOCKETS>> =
    ConstStaticCell::new(StackResources::new());

type Spi = PioSpi<'static, PIO0, 0>;

/// How long a join waits for a DHCP address before joining again.
const DHCP_LIMIT: Duration = Duration::from_secs(30);

// ---- tasks -----------------------------------------------------------------------

#[embassy_executor::task]
async fn cyw43_task(runner: cyw43::Runner<'static, cyw43::SpiBus<Output<'static>, Spi>>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, cyw43::NetDriver<'static>>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn token_task(
    stack: Stack<'static>,
    resources: &'static mut TokenResources,
    tls_rng: ChaCha20Rng,
) -> ! {
    // Renewal jitter needs no cryptographic strength: the ROSC bits do.
    // No wall clock and no retained memory here: every boot fetches, and
    // no token is exported (no store: `()`); see `../esp32c3` for a token
    // kept in RTC RAM.
    token_task::run(stack, resources, &TOKEN, tls_rng, RoscRng, || None, ()).await
}

#[embassy_executor::task]
async fn service_task(
    stack: Stack<'static>,
    resources: &'static mut ServiceResources,
    tls_rng: ChaCha20Rng,
) -> ! {
    service::run(stack, resources, &TOKEN, tls_rng).await
}

// ---- randomness ----------------------------------------------------------------------

/// A CSPRNG for TLS key exchanges: ChaCha20 keyed with SHA-256 over 8,192
/// bits of the ring oscillator's RANDOMBIT.
///
/// `RoscRng` does implement rand_core 0.6 `CryptoRng + RngCore`, so the
/// connector would take it as it is; but each of its bits is one raw,
/// unconditioned sample of the ring oscillator (and, embassy-rp warns, not
/// random at all if the ROSC is stopped or runs at a harmonic of the bus
/// clock), so the bits are condensed 32:1 through SHA-256 first.
fn seeded_rng() -> ChaCha20Rng {
    let mut rosc = RoscRng;
    let mut hash = Sha256::new();
    let mut block = [0u8; 64];
    for _ in 0..16 {
        rosc.fill_bytes(&mut block);
        hash.update(block);
    }
    hash.update(embassy_time::Instant::now().as_ticks().to_le_bytes());
    let mut seed: [u8; 32] = hash.finalize().into();
    let rng = ChaCha20Rng::from_seed(seed);
    seed.fill(0);
    block.fill(0);
    rng
}

// ---- main ------------------------------------------------------------------------

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());
    info!("embedded-oauth2 on the Pico W");

    // (black_box: decided at run time, so that the placeholder image still
    // contains, and measures, everything a real one does.)
    if core::hint::black_box(NVRAM_PLACEHOLDER) {
        // Running the chip without its NVRAM (board configuration) is not
        // something to try: stop here, loudly.
        error!(
            "this image was built without the CYW43439 NVRAM (CYW43_NVRAM unset): Wi-Fi is not \
             started. Rebuild with CYW43_NVRAM=/path/to/nvram_rp2040.bin (README.md)."
        );
        loop {
            Timer::after(Duration::from_secs(3600)).await;
        }
    }

    // The network name and passphrase fit the driver's buffers (build.rs
    // refuses them already; cyw43 would panic on longer ones).
    let (ssid, password) = match SETTINGS.wifi() {
        Ok(w) => w,
        Err(e) => {
            error!("configuration: {}", e);
            loop {
                Timer::after(Duration::from_secs(3600)).await;
            }
        }
    };

    // The CYW43439 on its PIO SPI bus (GPIO 23 power, 24 data, 25 CS, 29 clock).
    let pwr = Output::new(p.PIN_23, Level::Low);
    let cs = Output::new(p.PIN_25, Level::High);
    let mut pio = Pio::new(p.PIO0, Irqs);
    let spi = PioSpi::new(
        &mut pio.common,
        pio.sm0,
        DEFAULT_CLOCK_DIVIDER,
        pio.irq0,
        cs,
        p.PIN_24,
        p.PIN_29,
        dma::Channel::new(p.DMA_CH0, Irqs),
    );
    let (device, mut control, runner) = cyw43::new(
        CYW43_STATE.init(cyw43::State::new()),
        pwr,
        spi,
        FIRMWARE,
        NVRAM,
    )
    .await;
    spawner.spawn(defmt::unwrap!(cyw43_task(runner)));
    control.init(CLM).await;
    control
        .set_power_management(cyw43::PowerManagementMode::PowerSave)
        .await;

    // The network stack: DHCP; its seed (TCP sequence numbers, ports) from the ROSC.
    let (stack, runner) = embassy_net::new(
        device,
        embassy_net::Config::dhcpv4(Default::default()),
        NET_RESOURCES.take(),
        RoscRng.next_u64(),
    );
    spawner.spawn(defmt::unwrap!(net_task(runner)));

    // The two tasks wait for the network themselves.
    spawner.spawn(defmt::unwrap!(token_task(
        stack,
        TOKEN_RESOURCES.take(),
        seeded_rng()
    )));
    spawner.spawn(defmt::unwrap!(service_task(
        stack,
        SERVICE_RESOURCES.take(),
        seeded_rng()
    )));

    // Join, and join again whenever the link drops.
    loop {
        let options = if password.is_empty() {
            JoinOptions::new_open()
        } else {
            JoinOptions::new(password.as_bytes())
        };
        match control.join(ssid, options).await {
            Ok(()) => {
                info!("joined {}", ssid);
                // DHCP, unless the link drops first (then nothing would
                // wake `wait_config_up`) or no answer comes.
                match wait_configured(stack, DHCP_LIMIT).await {
                    Configured::Up => {
                        if let Some(config) = stack.config_v4() {
                            info!("DHCP: {}", config.address);
                        }
                        stack.wait_link_down().await;
                        warn!("Wi-Fi link lost; joining again");
                    }
                    other => {
                        warn!("no DHCP address ({}); joining again", other);
                        control.leave().await;
                        Timer::after(Duration::from_secs(1)).await;
                    }
                }
            }
            Err(e) => {
                warn!("joining {} failed: {}", ssid, e);
                Timer::after(Duration::from_secs(5)).await;
            }
        }
    }
}
