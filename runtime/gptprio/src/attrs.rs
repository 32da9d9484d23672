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

use core::fmt;

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

    /// The partition name of this bank's BOOT partition: `BOTTLEROCKET-BOOT-A` or `-B`.
    pub fn boot_label(self) -> &'static str {
        match self {
            Bank::A => "BOTTLEROCKET-BOOT-A",
            Bank::B => "BOTTLEROCKET-BOOT-B",
        }
    }

    /// The bank whose BOOT partition has this name, if any.
    pub fn from_boot_label(label: &str) -> Option<Bank> {
        [Bank::A, Bank::B]
            .into_iter()
            .find(|b| b.boot_label() == label)
    }
}

/// One of the two 4-bit boot-counting fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Priority, bits 48–51.
    Priority,
    /// Tries left, bits 52–55.
    TriesLeft,
}

impl Field {
    /// `"priority"` or `"tries_left"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Priority => "priority",
            Field::TriesLeft => "tries_left",
        }
    }

    fn shift(self) -> u32 {
        match self {
            Field::Priority => PRIORITY_SHIFT,
            Field::TriesLeft => TRIES_LEFT_SHIFT,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A boot-counting field was given a value that does not fit its 4 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldOutOfRange {
    /// The field.
    pub field: Field,
    /// The rejected value.
    pub value: u8,
}

impl fmt::Display for FieldOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GPT attribute field `{}` must be between 0 and {MAX_FIELD}, got {}",
            self.field, self.value
        )
    }
}

impl core::error::Error for FieldOutOfRange {}

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
    pub fn boot(
        priority: u8,
        tries_left: u8,
        successful: bool,
    ) -> Result<GptAttributes, FieldOutOfRange> {
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
    pub fn set_priority(&mut self, priority: u8) -> Result<(), FieldOutOfRange> {
        self.set_field(Field::Priority, priority)
    }

    /// Tries left, bits 52–55.
    pub fn tries_left(self) -> u8 {
        ((self.0 >> TRIES_LEFT_SHIFT) & NIBBLE) as u8
    }

    /// Sets the tries left; fails (leaving `self` unchanged) if `tries` exceeds 15.
    pub fn set_tries_left(&mut self, tries: u8) -> Result<(), FieldOutOfRange> {
        self.set_field(Field::TriesLeft, tries)
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

    fn set_field(&mut self, field: Field, value: u8) -> Result<(), FieldOutOfRange> {
        if value > MAX_FIELD {
            return Err(FieldOutOfRange { field, value });
        }
        let shift = field.shift();
        self.0 = (self.0 & !(NIBBLE << shift)) | (u64::from(value) << shift);
        Ok(())
    }

    /// These attributes with priority, tries left and successful all cleared (other bits kept):
    /// a bank that is never booted.
    pub fn cleared(self) -> GptAttributes {
        GptAttributes(
            self.0
                & !((NIBBLE << PRIORITY_SHIFT)
                    | (NIBBLE << TRIES_LEFT_SHIFT)
                    | (1 << SUCCESSFUL_BIT)),
        )
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
        assert_eq!(
            err,
            FieldOutOfRange {
                field: Field::Priority,
                value: 16
            }
        );
        assert_eq!(
            alloc::format!("{err}"),
            "GPT attribute field `priority` must be between 0 and 15, got 16"
        );
        assert_eq!(
            a.set_tries_left(200),
            Err(FieldOutOfRange {
                field: Field::TriesLeft,
                value: 200
            })
        );
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
    fn cleared_keeps_other_bits() {
        let a = GptAttributes(u64::MAX).cleared();
        assert_eq!(a.bits(), !(0x1ff << 48));
        assert_eq!(boot(2, 1, true).cleared(), GptAttributes::NONE);
    }

    #[test]
    fn boot_labels() {
        assert_eq!(Bank::from_boot_label("BOTTLEROCKET-BOOT-B"), Some(Bank::B));
        assert_eq!(Bank::from_boot_label(Bank::A.boot_label()), Some(Bank::A));
        assert_eq!(Bank::from_boot_label("BOTTLEROCKET-ROOT-A"), None);
    }
}
