//! GPT attribute bits used for boot counting (DESIGN §2.7) and the bank chooser.
//!
//! Each bank's BOOT partition carries, in the type-specific upper half of its 64-bit GPT
//! attribute field:
//!
//! | bits  | meaning                                   |
//! |-------|-------------------------------------------|
//! | 48–51 | priority (0 = not bootable, 15 = highest) |
//! | 52–55 | tries left                                |
//! | 56    | successful                                |
//!
//! and the PRIVATE partition carries bit 57: "a boot has ever succeeded".
//!
//! These are the positions GRUB's `gptprio` module and Bottlerocket's `signpost` use.

use std::fmt;

use crate::{Error, Result};

/// First bit of the 4-bit priority field.
pub const PRIORITY_SHIFT: u32 = 48;
/// First bit of the 4-bit tries-left field.
pub const TRIES_LEFT_SHIFT: u32 = 52;
/// The "successful" bit.
pub const SUCCESSFUL_BIT: u32 = 56;
/// The "a boot has ever succeeded" bit, set on the PRIVATE partition.
pub const BOOT_EVER_SUCCEEDED_BIT: u32 = 57;
/// Largest value the priority and tries-left fields can hold.
pub const MAX_FIELD: u8 = 15;

const NIBBLE: u64 = 0xf;

/// One of the two OS banks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bank {
    /// Bank A (partitions `*-A`, with `EFI-SYSTEM`).
    A,
    /// Bank B (partitions `*-B`, with `EFI-BACKUP`).
    B,
}

impl Bank {
    /// The label suffix: `"A"` or `"B"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bank::A => "A",
            Bank::B => "B",
        }
    }

    /// The other bank.
    pub fn other(self) -> Bank {
        match self {
            Bank::A => Bank::B,
            Bank::B => Bank::A,
        }
    }
}

impl fmt::Display for Bank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 64-bit GPT partition attribute field with typed access to the boot-counting bits.
///
/// Bits this type does not know about are preserved by every setter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GptAttributes(pub u64);

impl GptAttributes {
    /// All bits clear: priority 0 (not bootable), no tries, not successful.
    pub const NONE: GptAttributes = GptAttributes(0);

    /// Attributes of a bank's BOOT partition with the given boot-counting fields and no other
    /// bits set. Fails if `priority` or `tries_left` exceeds 15.
    pub fn boot(priority: u8, tries_left: u8, successful: bool) -> Result<GptAttributes> {
        let mut attrs = GptAttributes::NONE;
        attrs.set_priority(priority)?;
        attrs.set_tries_left(tries_left)?;
        attrs.set_successful(successful);
        Ok(attrs)
    }

    /// The raw 64-bit value.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// Priority, bits 48–51 (0 = not bootable, 15 = highest).
    pub fn priority(self) -> u8 {
        ((self.0 >> PRIORITY_SHIFT) & NIBBLE) as u8
    }

    /// Sets the priority; fails (leaving `self` unchanged) if `priority` exceeds 15.
    pub fn set_priority(&mut self, priority: u8) -> Result<()> {
        self.set_nibble(PRIORITY_SHIFT, "priority", priority)
    }

    /// Tries left, bits 52–55.
    pub fn tries_left(self) -> u8 {
        ((self.0 >> TRIES_LEFT_SHIFT) & NIBBLE) as u8
    }

    /// Sets the tries left; fails (leaving `self` unchanged) if `tries` exceeds 15.
    pub fn set_tries_left(&mut self, tries: u8) -> Result<()> {
        self.set_nibble(TRIES_LEFT_SHIFT, "tries_left", tries)
    }

    /// Decrements tries left, saturating at 0. Returns the new value.
    pub fn decrement_tries_left(&mut self) -> u8 {
        let tries = self.tries_left().saturating_sub(1);
        self.0 = (self.0 & !(NIBBLE << TRIES_LEFT_SHIFT)) | (u64::from(tries) << TRIES_LEFT_SHIFT);
        tries
    }

    /// The "successful" bit, 56.
    pub fn successful(self) -> bool {
        self.bit(SUCCESSFUL_BIT)
    }

    /// Sets or clears the "successful" bit.
    pub fn set_successful(&mut self, successful: bool) {
        self.set_bit(SUCCESSFUL_BIT, successful);
    }

    /// The "a boot has ever succeeded" bit, 57 (meaningful on the PRIVATE partition).
    pub fn boot_ever_succeeded(self) -> bool {
        self.bit(BOOT_EVER_SUCCEEDED_BIT)
    }

    /// Sets or clears the "a boot has ever succeeded" bit.
    pub fn set_boot_ever_succeeded(&mut self, value: bool) {
        self.set_bit(BOOT_EVER_SUCCEEDED_BIT, value);
    }

    /// Whether GRUB's `gptprio.next` would consider this partition at all:
    /// priority > 0 and (successful or tries left > 0).
    pub fn is_bootable(self) -> bool {
        self.priority() > 0 && (self.successful() || self.tries_left() > 0)
    }

    fn bit(self, bit: u32) -> bool {
        self.0 & (1 << bit) != 0
    }

    fn set_bit(&mut self, bit: u32, value: bool) {
        if value {
            self.0 |= 1 << bit;
        } else {
            self.0 &= !(1 << bit);
        }
    }

    fn set_nibble(&mut self, shift: u32, field: &'static str, value: u8) -> Result<()> {
        if value > MAX_FIELD {
            return Err(Error::AttributeOutOfRange { field, value });
        }
        self.0 = (self.0 & !(NIBBLE << shift)) | (u64::from(value) << shift);
        Ok(())
    }
}

impl From<u64> for GptAttributes {
    fn from(bits: u64) -> Self {
        GptAttributes(bits)
    }
}

impl From<GptAttributes> for u64 {
    fn from(attrs: GptAttributes) -> Self {
        attrs.0
    }
}

impl fmt::Display for GptAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "priority={} tries_left={} successful={}",
            self.priority(),
            self.tries_left(),
            self.successful()
        )
    }
}

/// The bank [`choose_bank`] picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankChoice {
    /// The chosen bank.
    pub bank: Bank,
    /// Index of the chosen entry in the slice given to [`choose_bank`].
    pub index: usize,
    /// The chosen BOOT partition had tries left (> 0). As in GRUB, the caller must then
    /// decrement tries left and write both GPT copies before booting; [`BankChoice::updated`]
    /// already holds the decremented attributes.
    pub chosen_by_tries: bool,
    /// The attributes the chosen BOOT partition must carry when it is booted: unchanged if
    /// `chosen_by_tries` is false, otherwise with tries left decremented by one.
    pub updated: GptAttributes,
}

/// Chooses the bank to boot, with the semantics of GRUB's `gptprio.next`.
///
/// `banks` lists each bank's BOOT partition attributes in partition-table order. Among the
/// entries with `successful || tries_left > 0`, the one with the highest priority wins; priority 0
/// never wins, and on equal priority the earlier entry wins (GRUB replaces its candidate only on a
/// strictly higher priority). Returns `None` when no entry qualifies.
///
/// If the winner has tries left (whether or not it is also marked successful, exactly as GRUB
/// does), `chosen_by_tries` is set and `updated` carries the decremented count.
pub fn choose_bank(banks: &[(Bank, GptAttributes)]) -> Option<BankChoice> {
    let mut best: Option<(usize, Bank, GptAttributes)> = None;
    for (index, &(bank, attrs)) in banks.iter().enumerate() {
        if !(attrs.successful() || attrs.tries_left() > 0) {
            continue;
        }
        let best_priority = best.map_or(0, |(_, _, a)| a.priority());
        if attrs.priority() > best_priority {
            best = Some((index, bank, attrs));
        }
    }
    best.map(|(index, bank, attrs)| {
        let chosen_by_tries = attrs.tries_left() > 0;
        let mut updated = attrs;
        if chosen_by_tries {
            updated.decrement_tries_left();
        }
        BankChoice {
            bank,
            index,
            chosen_by_tries,
            updated,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(p: u8, t: u8, s: bool) -> GptAttributes {
        GptAttributes::boot(p, t, s).expect("in range")
    }

    #[test]
    fn bit_positions() {
        let mut a = GptAttributes::NONE;
        a.set_priority(1).unwrap();
        assert_eq!(a.bits(), 1 << 48);
        a.set_priority(15).unwrap();
        assert_eq!(a.bits(), 0xf << 48);
        a = GptAttributes::NONE;
        a.set_tries_left(1).unwrap();
        assert_eq!(a.bits(), 1 << 52);
        a.set_tries_left(15).unwrap();
        assert_eq!(a.bits(), 0xf << 52);
        a = GptAttributes::NONE;
        a.set_successful(true);
        assert_eq!(a.bits(), 1 << 56);
        a = GptAttributes::NONE;
        a.set_boot_ever_succeeded(true);
        assert_eq!(a.bits(), 1 << 57);
        // A fresh image's BOOT-A: priority 1 + successful = bits 48 and 56.
        assert_eq!(boot(1, 0, true).bits(), (1 << 48) | (1 << 56));
        assert_eq!(boot(1, 0, true).bits(), 0x0101_0000_0000_0000);
    }

    #[test]
    fn getters_read_raw_bits() {
        let a = GptAttributes(0x0123_0000_0000_0000);
        assert_eq!(a.priority(), 3);
        assert_eq!(a.tries_left(), 2);
        assert!(a.successful());
        assert!(!a.boot_ever_succeeded());
        let b = GptAttributes(1 << 57);
        assert!(b.boot_ever_succeeded());
        assert!(!b.successful());
    }

    #[test]
    fn setters_preserve_other_bits() {
        let mut a = GptAttributes(u64::MAX);
        a.set_priority(0).unwrap();
        assert_eq!(a.bits(), !(0xf << 48));
        a.set_tries_left(0).unwrap();
        a.set_successful(false);
        a.set_boot_ever_succeeded(false);
        assert_eq!(a.bits(), !(0x3ff << 48));
        a.set_priority(2).unwrap();
        a.set_tries_left(1).unwrap();
        assert_eq!(a.priority(), 2);
        assert_eq!(a.tries_left(), 1);
        assert_eq!(a.bits() & 0xffff_ffff_ffff, 0xffff_ffff_ffff);
        assert_eq!(a.bits() >> 58, u64::MAX >> 58);
    }

    #[test]
    fn out_of_range_is_rejected_and_leaves_value() {
        let mut a = boot(3, 4, false);
        let err = a.set_priority(16).unwrap_err();
        assert!(matches!(
            err,
            Error::AttributeOutOfRange {
                field: "priority",
                value: 16
            }
        ));
        assert!(err.to_string().contains("between 0 and 15"));
        assert!(matches!(
            a.set_tries_left(200),
            Err(Error::AttributeOutOfRange {
                field: "tries_left",
                value: 200
            })
        ));
        assert_eq!(a, boot(3, 4, false));
        assert!(GptAttributes::boot(16, 0, false).is_err());
        assert!(GptAttributes::boot(0, 16, false).is_err());
    }

    #[test]
    fn decrement_saturates() {
        let mut a = boot(1, 2, false);
        assert_eq!(a.decrement_tries_left(), 1);
        assert_eq!(a.decrement_tries_left(), 0);
        assert_eq!(a.decrement_tries_left(), 0);
        assert_eq!(a.priority(), 1);
    }

    #[test]
    fn chooser_fresh_image_boots_a_without_decrement() {
        let c =
            choose_bank(&[(Bank::A, boot(1, 0, true)), (Bank::B, GptAttributes::NONE)]).unwrap();
        assert_eq!(c.bank, Bank::A);
        assert_eq!(c.index, 0);
        assert!(!c.chosen_by_tries);
        assert_eq!(c.updated, boot(1, 0, true));
    }

    #[test]
    fn chooser_after_update_tries_new_bank_once_then_falls_back() {
        // After an update: new bank priority 2, tries 1, not successful; old bank priority 1,
        // successful.
        let mut banks = [(Bank::A, boot(1, 0, true)), (Bank::B, boot(2, 1, false))];
        let c = choose_bank(&banks).unwrap();
        assert_eq!(c.bank, Bank::B);
        assert!(c.chosen_by_tries);
        assert_eq!(c.updated, boot(2, 0, false));
        // The boot fails before mark-successful: the next choice falls back to A.
        banks[1].1 = c.updated;
        let c = choose_bank(&banks).unwrap();
        assert_eq!(c.bank, Bank::A);
        assert!(!c.chosen_by_tries);
    }

    #[test]
    fn chooser_skips_priority_zero_and_unbootable() {
        assert_eq!(choose_bank(&[]), None);
        assert_eq!(
            choose_bank(&[(Bank::A, boot(0, 5, true)), (Bank::B, boot(0, 0, true))]),
            None
        );
        // High priority but neither successful nor tries left: skipped.
        let c = choose_bank(&[(Bank::A, boot(15, 0, false)), (Bank::B, boot(1, 0, true))]).unwrap();
        assert_eq!(c.bank, Bank::B);
        assert_eq!(
            choose_bank(&[(Bank::A, boot(15, 0, false)), (Bank::B, boot(3, 0, false))]),
            None
        );
    }

    #[test]
    fn chooser_ties_go_to_first_entry() {
        let c = choose_bank(&[(Bank::A, boot(2, 0, true)), (Bank::B, boot(2, 3, false))]).unwrap();
        assert_eq!(c.bank, Bank::A);
        let c = choose_bank(&[(Bank::B, boot(2, 3, false)), (Bank::A, boot(2, 0, true))]).unwrap();
        assert_eq!(c.bank, Bank::B);
        assert_eq!(c.index, 0);
        assert!(c.chosen_by_tries);
    }

    #[test]
    fn chooser_decrements_when_successful_and_tries_left_like_grub() {
        let c = choose_bank(&[(Bank::A, boot(1, 0, true)), (Bank::B, boot(2, 2, true))]).unwrap();
        assert_eq!(c.bank, Bank::B);
        assert!(c.chosen_by_tries);
        assert_eq!(c.updated, boot(2, 1, true));
    }

    #[test]
    fn chooser_preserves_unrelated_bits() {
        let mut a = boot(1, 1, false);
        a.0 |= 1 << 2; // legacy BIOS bootable
        let c = choose_bank(&[(Bank::A, a)]).unwrap();
        assert_eq!(c.updated.bits(), (1 << 2) | (1 << 48));
    }
}
