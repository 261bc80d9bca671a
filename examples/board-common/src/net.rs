//! The network side of the boards: the crate's embassy-net opener
//! (`embedded_oauth2::tls::embassy_net`: DNS, `TcpSocket::connect`, FIN and
//! its ACK after each exchange), re-exported here, and [`wait_configured`],
//! the wait for an address that does not hang when the link drops.

use embassy_futures::select::{Either, select};
use embassy_net::Stack;
use embassy_time::{Duration, with_timeout};
pub use embedded_oauth2::tls::embassy_net::{NetError, NetOpener, NetSocket, TcpBuffers};

/// How [`wait_configured`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Configured {
    /// The stack has an IPv4 configuration (DHCP answered).
    Up,
    /// The link came up and went down again before that: join again.
    LinkLost,
    /// Neither within the time given: join again.
    TimedOut,
}

/// After joining a network: waits for the stack's configuration (DHCP),
/// but not for ever — the link may drop before DHCP answers (then nothing
/// would ever wake `Stack::wait_config_up`), or DHCP may never answer.
/// The link counts as lost only once it was seen up, so a stack that has
/// not yet noticed the join does not look like a lost link.
pub async fn wait_configured(stack: Stack<'_>, limit: Duration) -> Configured {
    let link_lost = async {
        stack.wait_link_up().await;
        stack.wait_link_down().await;
    };
    match with_timeout(limit, select(stack.wait_config_up(), link_lost)).await {
        Ok(Either::First(())) => Configured::Up,
        Ok(Either::Second(())) => Configured::LinkLost,
        Err(_) => Configured::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use embassy_futures::block_on;
    use embassy_net::{Config, ConfigV4, Ipv4Cidr, StackResources, StaticConfigV4};

    use super::*;
    use crate::testing::NullDriver;

    /// Runs `wait_configured` on a stack over a [`NullDriver`] whose link
    /// is up, then (after `drop_after`, if any) down.
    fn run(config: Config, drop_after: Option<Duration>, limit: Duration) -> Configured {
        let driver = NullDriver::new(true);
        let link = driver.link();
        let mut resources = StackResources::<2>::new();
        let (stack, mut runner) = embassy_net::new(driver, config, &mut resources, 1);
        let test = async {
            let dropper = async {
                match drop_after {
                    Some(after) => {
                        embassy_time::Timer::after(after).await;
                        link.set(false);
                        core::future::pending::<()>().await
                    }
                    None => core::future::pending::<()>().await,
                }
            };
            match select(wait_configured(stack, limit), dropper).await {
                Either::First(c) => c,
                Either::Second(()) => unreachable!(),
            }
        };
        match block_on(select(runner.run(), test)) {
            Either::First(_) => unreachable!("the runner never returns"),
            Either::Second(c) => c,
        }
    }

    #[test]
    fn a_configured_stack_is_up() {
        let config = Config::ipv4_static(StaticConfigV4 {
            address: Ipv4Cidr::new([192, 0, 2, 10].into(), 24),
            gateway: None,
            dns_servers: Default::default(),
        });
        assert_eq!(run(config, None, Duration::from_secs(5)), Configured::Up);
    }

    /// The Pico W waited on `wait_config_up` alone: a link lost before
    /// DHCP answered was never noticed, and it never joined again.
    #[test]
    fn a_link_lost_before_dhcp_is_noticed() {
        // No address, and no DHCP answer ever.
        let mut config = Config::default();
        config.ipv4 = ConfigV4::None;
        let got = run(
            config,
            Some(Duration::from_millis(50)),
            Duration::from_secs(5),
        );
        assert_eq!(got, Configured::LinkLost);
    }

    #[test]
    fn no_dhcp_answer_times_out() {
        // No address, and no DHCP answer ever.
        let mut config = Config::default();
        config.ipv4 = ConfigV4::None;
        let got = run(config, None, Duration::from_millis(200));
        assert_eq!(got, Configured::TimedOut);
    }
}
