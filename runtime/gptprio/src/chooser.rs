//! The bank chooser, with the semantics of GRUB's `gptprio.next` (DESIGN §2.7).
//!
//! Among the BOOT partitions with `successful || tries_left > 0`, the one with the highest
//! priority wins; priority 0 never wins, and on equal priority the lower partition number wins
//! (GRUB scans the table in order and replaces its candidate only on a strictly higher priority).
//! If the winner has tries left (whether or not it is also marked successful, exactly as GRUB
//! does), a try is spent: tries left is decremented and both GPT copies must be written, backup
//! first, before the bank is booted ([`crate::Gpt::next_boot`] does this).

use alloc::vec::Vec;
use core::fmt;

use crate::attrs::{Bank, GptAttributes};

/// One BOOT partition the chooser considers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The bank it belongs to.
    pub bank: Bank,
    /// Its 1-based partition number (ties go to the lower number).
    pub number: u32,
    /// Its attribute bits.
    pub attributes: GptAttributes,
}

/// Why the chooser picked a bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceReason {
    /// The bank had no tries left but is marked successful: booted as is, nothing is written.
    Successful,
    /// The bank had tries left: one is spent (`before` → `after`), and both GPT copies must be
    /// written before booting.
    Tries {
        /// Tries left before the boot.
        before: u8,
        /// Tries left after the boot (`before − 1`).
        after: u8,
    },
}

/// The bank [`choose_bank`] picked.
///
/// Its [`Display`](fmt::Display) is the one console line a boot stage prints for the decision:
/// `bank B chosen by tries (1 → 0)` or `bank A chosen as successful`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankChoice {
    /// The chosen bank.
    pub bank: Bank,
    /// The 1-based number of its BOOT partition.
    pub number: u32,
    /// Why it was chosen.
    pub reason: ChoiceReason,
    /// Its attributes as found.
    pub before: GptAttributes,
    /// The attributes it must carry when it is booted: `before` if chosen as successful,
    /// otherwise with tries left decremented by one (every other bit unchanged).
    pub updated: GptAttributes,
}

impl BankChoice {
    /// The bank was chosen by tries: the caller must write [`BankChoice::updated`] to both GPT
    /// copies (backup first) before booting.
    pub fn chosen_by_tries(&self) -> bool {
        matches!(self.reason, ChoiceReason::Tries { .. })
    }
}

impl fmt::Display for BankChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            ChoiceReason::Successful => write!(f, "bank {} chosen as successful", self.bank),
            ChoiceReason::Tries { before, after } => {
                write!(f, "bank {} chosen by tries ({before} → {after})", self.bank)
            }
        }
    }
}

/// No candidate has priority > 0 and either the successful bit or tries left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NothingBootable {
    /// The candidates that were considered, in the order given.
    pub candidates: Vec<Candidate>,
}

impl fmt::Display for NothingBootable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nothing bootable: ")?;
        if self.candidates.is_empty() {
            return f.write_str("the GPT has no BOOT partition");
        }
        f.write_str(
            "no BOOT partition has priority > 0 and either the successful bit or tries left (",
        )?;
        for (i, c) in self.candidates.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "bank {} (partition {}): {}",
                c.bank, c.number, c.attributes
            )?;
        }
        f.write_str(")")
    }
}

impl core::error::Error for NothingBootable {}

/// Chooses the bank to boot, with the semantics of GRUB's `gptprio.next` (see the module
/// documentation). The order of `candidates` does not matter: ties go to the lower partition
/// number. Nothing is written; see [`crate::Gpt::next_boot`] for the whole boot-time step.
pub fn choose_bank(candidates: &[Candidate]) -> Result<BankChoice, NothingBootable> {
    let best = candidates
        .iter()
        .filter(|c| c.attributes.is_bootable())
        .fold(None::<&Candidate>, |best, c| match best {
            Some(b)
                if (b.attributes.priority(), core::cmp::Reverse(b.number))
                    >= (c.attributes.priority(), core::cmp::Reverse(c.number)) =>
            {
                Some(b)
            }
            _ => Some(c),
        });
    let Some(best) = best else {
        return Err(NothingBootable {
            candidates: candidates.to_vec(),
        });
    };
    let before = best.attributes;
    let mut updated = before;
    let reason = match before.tries_left() {
        0 => ChoiceReason::Successful,
        tries => ChoiceReason::Tries {
            before: tries,
            after: updated.decrement_tries_left(),
        },
    };
    Ok(BankChoice {
        bank: best.bank,
        number: best.number,
        reason,
        before,
        updated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn boot(p: u8, t: u8, s: bool) -> GptAttributes {
        GptAttributes::boot(p, t, s).expect("in range")
    }

    fn a(attributes: GptAttributes) -> Candidate {
        Candidate {
            bank: Bank::A,
            number: 2,
            attributes,
        }
    }

    fn b(attributes: GptAttributes) -> Candidate {
        Candidate {
            bank: Bank::B,
            number: 6,
            attributes,
        }
    }

    #[test]
    fn fresh_image_boots_a_without_decrement() {
        let c = choose_bank(&[a(boot(1, 0, true)), b(GptAttributes::NONE)]).unwrap();
        assert_eq!((c.bank, c.number), (Bank::A, 2));
        assert!(!c.chosen_by_tries());
        assert_eq!(c.reason, ChoiceReason::Successful);
        assert_eq!(c.updated, boot(1, 0, true));
        assert_eq!(c.to_string(), "bank A chosen as successful");
    }

    #[test]
    fn after_update_tries_new_bank_once_then_falls_back() {
        let mut banks = [a(boot(1, 0, true)), b(boot(2, 1, false))];
        let c = choose_bank(&banks).unwrap();
        assert_eq!(c.bank, Bank::B);
        assert_eq!(
            c.reason,
            ChoiceReason::Tries {
                before: 1,
                after: 0
            }
        );
        assert_eq!(c.updated, boot(2, 0, false));
        assert_eq!(c.to_string(), "bank B chosen by tries (1 → 0)");
        // The boot fails before mark-successful: the next choice falls back to A.
        banks[1].attributes = c.updated;
        let c = choose_bank(&banks).unwrap();
        assert_eq!(c.bank, Bank::A);
        assert!(!c.chosen_by_tries());
    }

    #[test]
    fn skips_priority_zero_and_unbootable() {
        let err = choose_bank(&[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nothing bootable: the GPT has no BOOT partition"
        );
        let err = choose_bank(&[a(boot(0, 5, true)), b(boot(0, 0, true))]).unwrap_err();
        assert_eq!(err.candidates.len(), 2);
        assert!(
            err.to_string().contains("bank B (partition 6): priority=0"),
            "{err}"
        );
        // High priority but neither successful nor tries left: skipped.
        let c = choose_bank(&[a(boot(15, 0, false)), b(boot(1, 0, true))]).unwrap();
        assert_eq!(c.bank, Bank::B);
        assert!(choose_bank(&[a(boot(15, 0, false)), b(boot(3, 0, false))]).is_err());
    }

    #[test]
    fn ties_go_to_the_lower_partition_number_in_any_order() {
        let c = choose_bank(&[a(boot(2, 0, true)), b(boot(2, 3, false))]).unwrap();
        assert_eq!(c.bank, Bank::A);
        let c = choose_bank(&[b(boot(2, 3, false)), a(boot(2, 0, true))]).unwrap();
        assert_eq!(c.bank, Bank::A);
        // Bank B on the lower number wins the tie.
        let low_b = Candidate {
            number: 1,
            ..b(boot(2, 3, false))
        };
        let c = choose_bank(&[a(boot(2, 0, true)), low_b]).unwrap();
        assert_eq!((c.bank, c.number), (Bank::B, 1));
        assert!(c.chosen_by_tries());
    }

    #[test]
    fn decrements_when_successful_and_tries_left_like_grub() {
        let c = choose_bank(&[a(boot(1, 0, true)), b(boot(2, 2, true))]).unwrap();
        assert_eq!(c.bank, Bank::B);
        assert!(c.chosen_by_tries());
        assert_eq!(c.updated, boot(2, 1, true));
        assert_eq!(c.to_string(), "bank B chosen by tries (2 → 1)");
    }

    #[test]
    fn preserves_unrelated_bits() {
        let mut attrs = boot(1, 1, false);
        attrs.0 |= (1 << 2) | (1 << 60); // legacy BIOS bootable, and a bit nobody uses
        let c = choose_bank(&[a(attrs)]).unwrap();
        assert_eq!(c.updated.bits(), (1 << 2) | (1 << 48) | (1 << 60));
        assert_eq!(c.before, attrs);
    }
}
