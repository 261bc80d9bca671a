//! Logging through defmt (feature `defmt`, the Pico W) or the `log` facade
//! (feature `log`, printed by esp-println on the ESP32-C3); nothing without
//! either. Format strings use `{}` only, which both accept: every argument
//! implements `Display` and, with `defmt`, `defmt::Format`.
//!
//! Nothing secret is ever an argument: `ClientSecret`, `Token` and
//! [`HeaderValue`](crate::publish::HeaderValue) implement neither trait.
#![allow(unused_macros)]

#[cfg(feature = "defmt")]
macro_rules! info { ($($t:tt)*) => { ::defmt::info!($($t)*) } }
#[cfg(feature = "defmt")]
macro_rules! warn { ($($t:tt)*) => { ::defmt::warn!($($t)*) } }
#[cfg(feature = "defmt")]
macro_rules! error { ($($t:tt)*) => { ::defmt::error!($($t)*) } }

#[cfg(all(feature = "log", not(feature = "defmt")))]
macro_rules! info { ($($t:tt)*) => { ::log::info!($($t)*) } }
#[cfg(all(feature = "log", not(feature = "defmt")))]
macro_rules! warn { ($($t:tt)*) => { ::log::warn!($($t)*) } }
#[cfg(all(feature = "log", not(feature = "defmt")))]
macro_rules! error { ($($t:tt)*) => { ::log::error!($($t)*) } }

#[cfg(not(any(feature = "defmt", feature = "log")))]
macro_rules! info { ($($t:tt)*) => {{ let _ = format_args!($($t)*); }} }
#[cfg(not(any(feature = "defmt", feature = "log")))]
macro_rules! warn { ($($t:tt)*) => {{ let _ = format_args!($($t)*); }} }
#[cfg(not(any(feature = "defmt", feature = "log")))]
macro_rules! error { ($($t:tt)*) => {{ let _ = format_args!($($t)*); }} }
