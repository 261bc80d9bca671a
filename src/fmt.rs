//! Logging shims: `log` and/or `defmt` when enabled (both may be), nothing
//! otherwise.
//! Never pass a secret (client secret, token, assertion) to these macros.

#![allow(unused_macros)]

macro_rules! debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::debug!($($arg)*);
        #[cfg(feature = "defmt")]
        ::defmt::debug!($($arg)*);
    }};
}

pub(crate) use debug;
