//! Logging through defmt (feature `defmt`, the Pico W) or the `log` facade
//! (feature `log`, printed by esp-println on the ESP32-C3); nothing without
//! either. The host tests log through `log` too, and capture it
//! (`crate::testing`). Format strings use `{}` only, which both accept: every argument
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

#[cfg(all(any(feature = "log", test), not(feature = "defmt")))]
macro_rules! info { ($($t:tt)*) => { ::log::info!($($t)*) } }
#[cfg(all(any(feature = "log", test), not(feature = "defmt")))]
macro_rules! warn { ($($t:tt)*) => { ::log::warn!($($t)*) } }
#[cfg(all(any(feature = "log", test), not(feature = "defmt")))]
macro_rules! error { ($($t:tt)*) => { ::log::error!($($t)*) } }

#[cfg(not(any(feature = "defmt", feature = "log", test)))]
macro_rules! info { ($($t:tt)*) => {{ let _ = format_args!($($t)*); }} }
#[cfg(not(any(feature = "defmt", feature = "log", test)))]
macro_rules! warn { ($($t:tt)*) => {{ let _ = format_args!($($t)*); }} }
#[cfg(not(any(feature = "defmt", feature = "log", test)))]
macro_rules! error { ($($t:tt)*) => {{ let _ = format_args!($($t)*); }} }

/// What a generic function may log with `{}`: `Display`, and with `defmt`
/// also `defmt::Format`.
#[cfg(feature = "defmt")]
pub trait Loggable: core::fmt::Display + defmt::Format {}
#[cfg(feature = "defmt")]
impl<T: core::fmt::Display + defmt::Format> Loggable for T {}
/// What a generic function may log with `{}`: `Display`, and with `defmt`
/// also `defmt::Format`.
#[cfg(not(feature = "defmt"))]
pub trait Loggable: core::fmt::Display {}
#[cfg(not(feature = "defmt"))]
impl<T: core::fmt::Display> Loggable for T {}
