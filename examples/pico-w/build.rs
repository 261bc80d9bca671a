//! * Puts `memory.x` where cortex-m-rt's `link.x` finds it.
//! * Finds the CYW43439's NVRAM (`nvram_rp2040.bin`, 742 bytes), which the
//!   `cyw43-firmware` crate does not ship and this project does not copy:
//!   `CYW43_NVRAM=/path/to/nvram_rp2040.bin` (from your checkout of the
//!   embassy repository, `cyw43-firmware/nvram_rp2040.bin`, or of
//!   georgerobotics/cyw43-driver). Without it the image is built with an
//!   EMPTY PLACEHOLDER: it links, but the firmware refuses to start the
//!   Wi-Fi chip and says so at boot; the build prints a warning.
use std::{env, fs, path::PathBuf};

fn main() {
    let here = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");

    println!("cargo:rerun-if-env-changed=CYW43_NVRAM");
    let (nvram, placeholder) = match env::var_os("CYW43_NVRAM").filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            let p = if p.is_absolute() { p } else { here.join(p) };
            println!("cargo:rerun-if-changed={}", p.display());
            let bytes = fs::read(&p).unwrap_or_else(|e| {
                panic!(
                    "CYW43_NVRAM={}: {e} (a relative path is taken from {})",
                    p.display(),
                    here.display()
                )
            });
            // The NVRAM is `key=value` text, NUL-separated, under 4 KiB.
            if bytes.is_empty() || bytes.len() > 4096 || !bytes.contains(&b'=') {
                panic!(
                    "CYW43_NVRAM={}: {} bytes, not a CYW43 NVRAM image (nvram_rp2040.bin is 742 bytes of key=value text)",
                    p.display(),
                    bytes.len()
                );
            }
            (bytes, false)
        }
        None => {
            println!(
                "cargo:warning=PLACEHOLDER NVRAM: CYW43_NVRAM is not set, so this image carries an \
                 empty CYW43439 NVRAM. It builds but will NOT bring up Wi-Fi (it stops at boot \
                 with an error). Set CYW43_NVRAM=/path/to/nvram_rp2040.bin (see README.md)."
            );
            (Vec::new(), true)
        }
    };
    let target = out.join("nvram.bin");
    fs::write(&target, &nvram).expect("write nvram.bin");
    println!("cargo:rustc-env=PICO_W_NVRAM={}", target.display());
    println!(
        "cargo:rustc-env=PICO_W_NVRAM_PLACEHOLDER={}",
        if placeholder { "1" } else { "0" }
    );
}
