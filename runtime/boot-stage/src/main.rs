//! The boot stage binary: a UEFI application (`x86_64-unknown-uefi`, `aarch64-unknown-uefi`).
//! Everything that does not touch the firmware is in the `boot_stage` library; this file only has
//! the UEFI glue (`efi`), and on the host a `main` that says what the program is.

#![cfg_attr(target_os = "uefi", no_std, no_main)]

#[cfg(target_os = "uefi")]
mod efi;

#[cfg(not(target_os = "uefi"))]
fn main() {
    println!(
        "boot-stage is a UEFI application: build it with `cargo build -p boot-stage --target \
         x86_64-unknown-uefi` (or aarch64-unknown-uefi) and install boot-stage.efi as \
         /EFI/BOOT/BOOTX64.EFI (BOOTAA64.EFI) on EFI-SYSTEM"
    );
}
