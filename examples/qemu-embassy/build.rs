//! Puts memory.x where the linker finds it (cortex-m-rt's link.x includes
//! it), and hands `QEMU_EMBASSY_EXIT_AFTER` to the firmware.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=QEMU_EMBASSY_EXIT_AFTER");
    if let Some(v) = env::var_os("QEMU_EMBASSY_EXIT_AFTER") {
        let v = v.to_str().unwrap_or("");
        if !v.is_empty() && v.parse::<u32>().is_err() {
            panic!("QEMU_EMBASSY_EXIT_AFTER={v}: not a number of service calls");
        }
    }
}
