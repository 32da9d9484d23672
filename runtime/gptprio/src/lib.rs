//! The one implementation of Bottlerocket's boot-counting format (DESIGN §2.7), for the host
//! (`partitions`, `signpost`) and for the firmware boot stage alike: `#![no_std]` with `alloc`,
//! building for `x86_64-unknown-uefi` and `aarch64-unknown-uefi` as well as the host.
//!
//! * [`attrs`]: the GPT attribute bits of each bank's BOOT partition (priority, tries left,
//!   successful) and PRIVATE's "a boot has ever succeeded" bit;
//! * [`chooser`]: GRUB `gptprio.next` semantics over BOOT partitions, returning a typed decision
//!   that prints as one console line (`bank B chosen by tries (1 → 0)`) or a typed
//!   [`NothingBootable`];
//! * [`gpt`]: a GPT reader/writer over the tiny [`BlockDevice`] trait: both copies checked
//!   (header and entry-array CRC32s), fallback to the valid copy, repair, and writes of both
//!   copies backup first;
//! * [`device`]: the trait, and with the `std` feature a `FileDevice` over `std::fs::File`.
//!
//! ```
//! # #[cfg(any())]
//! let choice = gptprio::next_boot(&mut disk)?; // reads, chooses, spends a try (backup first)
//! # #[cfg(any())]
//! println!("{choice}"); // "bank B chosen by tries (1 → 0)"
//! ```

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod attrs;
pub mod chooser;
pub mod device;
pub mod error;
pub mod gpt;

pub use attrs::{Bank, Field, FieldOutOfRange, GptAttributes};
pub use chooser::{choose_bank, BankChoice, Candidate, ChoiceReason, NothingBootable};
pub use device::BlockDevice;
#[cfg(feature = "std")]
pub use device::FileDevice;
pub use error::{CopyProblem, Error, NoSuchPartition};
pub use gpt::{next_boot, Gpt, GptCopy, Health, Partition};
pub use uuid::Uuid;

/// Type GUID of a bank's BOOT partition (`BOTTLEROCKET-BOOT-{A,B}`), Bottlerocket's: the chooser
/// considers partitions of this type only.
pub const BOOT_TYPE: Uuid = Uuid::from_u128(0x6b636168_7420_6568_2070_6c616e657421);
