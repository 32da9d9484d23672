//! Finding the Bottlerocket banks in a partition table, and refusing tables that lack them.

use std::path::Path;

use partitions::{Bank, DiskTable, GptAttributes, PartitionId, TablePartition};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The partitions of one bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankPartitions {
    /// Which bank.
    pub bank: Bank,
    /// Partition number of BOTTLEROCKET-BOOT-X (carries the boot-counting bits).
    pub boot: u32,
    /// Partition number of BOTTLEROCKET-ROOT-X.
    pub root: u32,
    /// Partition number of BOTTLEROCKET-HASH-X.
    pub hash: u32,
    /// The BOOT partition's unique GUID (the `PARTUUID` on the kernel command line).
    pub boot_partuuid: Uuid,
    /// The BOOT partition's attribute bits.
    pub attributes: GptAttributes,
}

/// The Bottlerocket partitions of an OS disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskLayout {
    /// Bank A.
    pub a: BankPartitions,
    /// Bank B.
    pub b: BankPartitions,
    /// Partition number of BOTTLEROCKET-PRIVATE (carries bit 57).
    pub private: u32,
    /// PRIVATE's attribute bits.
    pub private_attributes: GptAttributes,
}

impl DiskLayout {
    /// Finds both banks and PRIVATE in `table` (read from `disk`) by label, checks their type
    /// GUIDs, and checks that ROOT and HASH are BOOT + 1 and BOOT + 2 as the kernel command line
    /// expects. Errors name what is missing or wrong.
    pub fn from_table(disk: &Path, table: &DiskTable) -> Result<DiskLayout> {
        let ids = [
            PartitionId::Boot(Bank::A),
            PartitionId::Root(Bank::A),
            PartitionId::Hash(Bank::A),
            PartitionId::Boot(Bank::B),
            PartitionId::Root(Bank::B),
            PartitionId::Hash(Bank::B),
            PartitionId::Private,
        ];
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| table.by_label(id.label()).is_none())
            .map(|id| id.label().to_string())
            .collect();
        let bank_a_present = missing.iter().all(|l| !l.ends_with("-A"));
        let bank_b_missing = missing.iter().filter(|l| l.ends_with("-B")).count() == 3;
        if bank_a_present && bank_b_missing && !missing.iter().any(|l| l.ends_with("PRIVATE")) {
            return Err(Error::SingleBank {
                disk: disk.to_path_buf(),
            });
        }
        if !missing.is_empty() {
            return Err(Error::NotBottlerocket {
                disk: disk.to_path_buf(),
                missing,
            });
        }
        let find = |id: PartitionId| -> Result<&TablePartition> {
            let p = table.by_label(id.label()).expect("checked above");
            let expected = id.type_guid();
            if p.type_guid != expected {
                return Err(Error::WrongType {
                    disk: disk.to_path_buf(),
                    number: p.number,
                    label: p.label.clone(),
                    expected,
                    found: p.type_guid,
                });
            }
            Ok(p)
        };
        let bank = |bank: Bank| -> Result<BankPartitions> {
            let boot = find(PartitionId::Boot(bank))?;
            let root = find(PartitionId::Root(bank))?.number;
            let hash = find(PartitionId::Hash(bank))?.number;
            if root != boot.number + 1 || hash != boot.number + 2 {
                return Err(Error::BankNotContiguous {
                    disk: disk.to_path_buf(),
                    bank,
                    boot: boot.number,
                    root,
                    hash,
                });
            }
            Ok(BankPartitions {
                bank,
                boot: boot.number,
                root,
                hash,
                boot_partuuid: boot.partition_guid,
                attributes: boot.attributes,
            })
        };
        let private = find(PartitionId::Private)?;
        Ok(DiskLayout {
            a: bank(Bank::A)?,
            b: bank(Bank::B)?,
            private: private.number,
            private_attributes: private.attributes,
        })
    }

    /// The partitions of `bank`.
    pub fn bank(&self, bank: Bank) -> &BankPartitions {
        match bank {
            Bank::A => &self.a,
            Bank::B => &self.b,
        }
    }

    /// Both banks in partition-table order (by BOOT partition number), the order GRUB's
    /// `gptprio.next` scans them in and breaks ties by.
    pub fn in_table_order(&self) -> [&BankPartitions; 2] {
        if self.a.boot <= self.b.boot {
            [&self.a, &self.b]
        } else {
            [&self.b, &self.a]
        }
    }

    /// The bank whose BOOT, ROOT or HASH partition has this number.
    pub fn bank_of_partition(&self, number: u32) -> Option<Bank> {
        [&self.a, &self.b]
            .into_iter()
            .find(|b| [b.boot, b.root, b.hash].contains(&number))
            .map(|b| b.bank)
    }
}
