//! ESP32-C3: joins Wi-Fi, gets an address by DHCP, and runs the two tasks
//! of `board-common`:
//!
//! * the **token task** owns the OAuth 2.0 `Client`, fetches a token from
//!   `OAUTH_TOKEN_URL` over verified TLS 1.3 (`embedded_oauth2::tls`),
//!   publishes it and renews it before it expires;
//! * the **service task** calls `SERVICE_URL` with `Authorization: Bearer`
//!   from the published token, over its own TLS connection.
//!
//! This file is only the board: esp-hal, the esp-rtos scheduler (which
//! esp-radio needs) with its embassy executor, the Wi-Fi controller, the
//! network stack and the TRNG. Configuration: the build environment
//! (`../board-common/README.md`); logs: esp-println, never the secret or
//! the token.
#![no_std]
#![no_main]

use board_common::config::SETTINGS;
use board_common::service::{self, ServiceResources};
use board_common::token_task::TokenStore;
use board_common::token_task::{self, TokenResources};
use board_common::{HEADER_CAP, RECORD_CAP, SOCKETS, TokenCell};
use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_time::{Duration, Timer};
use esp_hal::clock::CpuClock;
use esp_hal::rng::{Rng, Trng};
use esp_hal::rtc_cntl::Rtc;
use esp_hal::timer::timg::TimerGroup;
use esp_radio::wifi::sta::StationConfig;
use esp_radio::wifi::{
    AuthenticationMethodConfig, Config, ControllerConfig, Interface, Password, Ssid, WifiController,
};
use log::{error, info, warn};
use static_cell::ConstStaticCell;
use {esp_backtrace as _, esp_println as _};

esp_bootloader_esp_idf::esp_app_desc!();

// ---- static memory ---------------------------------------------------------------

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

/// The token record across resets and deep sleep: RTC fast RAM that the
/// boot does not initialize (zeroed only at power-up). The record carries
/// its own magic, version and CRC-32, so garbage is refused, not used.
#[esp_hal::ram(unstable(rtc_fast, persistent))]
static mut RETAINED: [u8; RECORD_CAP] = [0; RECORD_CAP];

/// [`RETAINED`] as the token task's store.
struct RtcStore(&'static mut [u8; RECORD_CAP]);

impl TokenStore for RtcStore {
    fn load(&self) -> &[u8] {
        &self.0[..]
    }
    fn save(&mut self, record: &[u8]) {
        let (head, tail) = self.0.split_at_mut(record.len().min(RECORD_CAP));
        head.copy_from_slice(&record[..head.len()]);
        tail.fill(0);
    }
}

/// Seconds on the RTC timer, which keeps counting through deep sleep and
/// resets (not through a power loss: then the record is refused and the
/// token fetched). A device that sets the RTC from SNTP gets UNIX time.
struct RtcClock(Rtc<'static>);

impl embedded_oauth2::WallClock for RtcClock {
    fn unix_time(&self) -> Option<u64> {
        Some(self.0.current_time_us() / 1_000_000)
    }
}

// ---- tasks -----------------------------------------------------------------------

#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>) -> ! {
    loop {
        match controller.connect_async().await {
            Ok(_) => {
                info!("joined {}", SETTINGS.wifi_ssid);
                let _ = controller.wait_for_disconnect_async().await;
                warn!("Wi-Fi disconnected; joining again");
            }
            Err(e) => warn!("joining {} failed: {:?}", SETTINGS.wifi_ssid, e),
        }
        Timer::after(Duration::from_secs(5)).await;
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Interface>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn token_task(
    stack: Stack<'static>,
    resources: &'static mut TokenResources,
    tls_rng: Trng,
    rtc: Rtc<'static>,
    retained: &'static mut [u8; RECORD_CAP],
) -> ! {
    // Renewal jitter needs no cryptographic strength: the plain RNG does.
    token_task::run(
        stack,
        resources,
        &TOKEN,
        tls_rng,
        Rng::new(),
        RtcClock(rtc),
        RtcStore(retained),
    )
    .await
}

#[embassy_executor::task]
async fn service_task(
    stack: Stack<'static>,
    resources: &'static mut ServiceResources,
    tls_rng: Trng,
) -> ! {
    service::run(stack, resources, &TOKEN, tls_rng).await
}

// ---- main ------------------------------------------------------------------------

#[esp_rtos::main]
async fn main(spawner: Spawner) -> ! {
    esp_println::logger::init_logger_from_env();
    let peripherals = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    info!("embedded-oauth2 on the ESP32-C3");

    // The Wi-Fi driver's heap: the RAM the bootloader used, and a little more.
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: 32 * 1024);

    // The scheduler esp-radio runs on; the embassy executor runs inside it.
    let timg0 = TimerGroup::new(peripherals.TIMG0);
    esp_rtos::start(timg0.timer0, peripherals.FROM_CPU_INTR0);

    // Checked by board-common (and refused at build already): empty or
    // too long values, a passphrase that is not WPA2's.
    let station = match SETTINGS.wifi().map(station_config) {
        Ok(Some(s)) => s,
        Ok(None) => {
            error!("WIFI_SSID or WIFI_PASSWORD refused by esp-radio");
            park().await
        }
        Err(e) => {
            error!("configuration: {}", e);
            park().await
        }
    };
    let interface = Interface::station();
    let controller = match WifiController::new(
        peripherals.WIFI,
        ControllerConfig::default().with_initial_config(Config::Station(station)),
    ) {
        Ok(c) => c,
        Err(e) => {
            error!("Wi-Fi: {:?}", e);
            park().await
        }
    };

    // With the radio on, the RNG is a true RNG (it mixes in RF noise):
    // `Trng` says so in its type, and is what TLS gets.
    let (Ok(token_rng), Ok(service_rng)) = (Trng::try_new(), Trng::try_new()) else {
        error!("no true RNG although Wi-Fi is running");
        park().await
    };

    let seed = u64::from(Rng::new().random()) << 32 | u64::from(Rng::new().random());
    let (stack, runner) = embassy_net::new(
        interface,
        embassy_net::Config::dhcpv4(Default::default()),
        NET_RESOURCES.take(),
        seed,
    );

    spawner.spawn(unwrap_spawn(wifi_task(controller)));
    spawner.spawn(unwrap_spawn(net_task(runner)));
    // The two tasks wait for the network themselves.
    // SAFETY: `RETAINED` is referenced here only, once, before any task
    // runs; the token task then owns the only reference.
    // (`&raw mut` then `&mut *`: no reference to a `static mut` is formed
    // before it is the only one.)
    #[allow(unsafe_code, clippy::deref_addrof)]
    let retained: &'static mut [u8; RECORD_CAP] = unsafe { &mut *(&raw mut RETAINED) };
    let rtc = Rtc::new(peripherals.RTC_TIMER);
    spawner.spawn(unwrap_spawn(token_task(
        stack,
        TOKEN_RESOURCES.take(),
        token_rng,
        rtc,
        retained,
    )));
    spawner.spawn(unwrap_spawn(service_task(
        stack,
        SERVICE_RESOURCES.take(),
        service_rng,
    )));

    loop {
        stack.wait_config_up().await;
        if let Some(config) = stack.config_v4() {
            info!("DHCP: {}", config.address);
        }
        stack.wait_config_down().await;
        warn!("network configuration lost");
    }
}

/// The station configuration for the network name and passphrase
/// (`None`: esp-radio refused one).
fn station_config((ssid, password): (&'static str, &'static str)) -> Option<StationConfig> {
    let ssid = Ssid::try_from(ssid).ok()?;
    let authentication = if password.is_empty() {
        AuthenticationMethodConfig::Open
    } else {
        AuthenticationMethodConfig::Wpa2Personal(Password::try_from(password).ok()?)
    };
    Some(
        StationConfig::default()
            .with_ssid(ssid)
            .with_authentication(authentication),
    )
}

/// A task that could not be spawned (its pool is full): a programming
/// error, caught on the first boot.
fn unwrap_spawn<S>(
    token: Result<embassy_executor::SpawnToken<S>, embassy_executor::SpawnError>,
) -> embassy_executor::SpawnToken<S> {
    match token {
        Ok(t) => t,
        Err(_) => panic!("task pool exhausted"),
    }
}

/// Nothing to do until the image is rebuilt.
async fn park() -> ! {
    loop {
        Timer::after(Duration::from_secs(3600)).await;
    }
}
