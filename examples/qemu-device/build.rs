//! Puts `memory.x` where cortex-m-rt's `link.x` finds it (the linker's
//! search path), whatever directory cargo runs the linker from.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    // The TLS record size this image is built for (its read buffer is
    // static RAM): QEMU_DEVICE_RECORDS = 16384 (default: any server),
    // 4096, 2048, 1024 or 512 (asks the server for max_fragment_length).
    println!("cargo:rerun-if-env-changed=QEMU_DEVICE_RECORDS");
    let records = env::var("QEMU_DEVICE_RECORDS").unwrap_or_else(|_| "16384".into());
    let mfl = match records.as_str() {
        "16384" => "None",
        "4096" => "Some(MaxFragmentLength::Bits12)",
        "2048" => "Some(MaxFragmentLength::Bits11)",
        "1024" => "Some(MaxFragmentLength::Bits10)",
        "512" => "Some(MaxFragmentLength::Bits9)",
        other => panic!("QEMU_DEVICE_RECORDS must be 16384, 4096, 2048, 1024 or 512, not {other}"),
    };
    fs::write(
        out.join("records.rs"),
        format!(
            "/// The fragment length this image asks for (`QEMU_DEVICE_RECORDS`).\n\
             pub const RECORDS: Option<MaxFragmentLength> = {mfl};\n\
             /// Plaintext bytes per record (for the report).\n\
             pub const RECORD_PLAINTEXT: usize = {records};\n"
        ),
    )
    .expect("write records.rs");
    println!("cargo:rerun-if-changed=build.rs");
}
