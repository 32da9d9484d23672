//! The boot-bank state of a disk and the operations on it.
//!
//! # Active and inactive bank
//!
//! The *active* bank is the one the host is running from. It is found, in order:
//!
//! 1. from the running root file system, when the disk is the one holding it (see
//!    [`crate::root`]);
//! 2. from `--booted A|B` ([`LoadOptions::booted`]), meant for image files and tests (it must
//!    agree with 1. when both are known);
//! 3. otherwise (an image file) as the bank GRUB would boot if no trial boot were pending: the
//!    chooser over both banks with their tries left ignored, i.e. the highest-priority bank marked
//!    successful; failing that, the chooser's plain pick. A pending, not yet booted update is
//!    thereby never mistaken for the running bank.
//!
//! The *inactive* bank is the other one.

use std::path::{Path, PathBuf};

use partitions::{
    choose_bank, inspect_table, next_boot, set_attributes, Bank, BankChoice, Candidate,
    GptAttributes, TableInspection,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::layout::{BankPartitions, DiskLayout};
use crate::root::{block_devnum, find_running_root, RunningRoot};

/// Where to look and what is known about the boot.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The disk (block device or image file); `None` = the disk holding the running root.
    pub disk: Option<PathBuf>,
    /// The bank that was booted, if the caller knows (image files, tests).
    pub booted: Option<Bank>,
    /// Mount point of the running root file system (normally `/`).
    pub root: PathBuf,
    /// The sysfs mount (normally `/sys`).
    pub sys: PathBuf,
    /// The device directory (normally `/dev`).
    pub dev: PathBuf,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            disk: None,
            booted: None,
            root: "/".into(),
            sys: "/sys".into(),
            dev: "/dev".into(),
        }
    }
}

/// How the active bank was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActiveSource {
    /// The running root file system is on this bank.
    Running,
    /// Given with `--booted`.
    Booted,
    /// Not known to have been booted: the bank the chooser picks ignoring pending trial boots.
    Chooser,
}

/// A loaded disk.
#[derive(Debug, Clone)]
pub struct Signpost {
    disk: PathBuf,
    inspection: TableInspection,
    layout: DiskLayout,
    active: Option<(Bank, ActiveSource)>,
}

/// Health of the two GPT copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GptHealth {
    /// Logical sector size.
    pub sector_size: u64,
    /// `primary` or `backup`: the copy the state was read from.
    pub source: String,
    /// Why the primary copy is unusable, if it is.
    pub primary_problem: Option<String>,
    /// Why the backup copy is unusable, if it is.
    pub backup_problem: Option<String>,
    /// Both copies valid but different (an interrupted write); the primary is used.
    pub copies_differ: bool,
}

/// One bank in [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BankStatus {
    /// `A` or `B`.
    pub bank: String,
    /// BOOT partition number.
    pub boot_partition: u32,
    /// ROOT partition number.
    pub root_partition: u32,
    /// HASH partition number.
    pub hash_partition: u32,
    /// BOOT partition's unique GUID.
    pub boot_partuuid: String,
    /// Priority (0 = not bootable).
    pub priority: u8,
    /// Tries left.
    pub tries_left: u8,
    /// The successful bit.
    pub successful: bool,
    /// Whether the chooser would consider this bank at all.
    pub bootable: bool,
    /// This is the active bank.
    pub active: bool,
    /// The chooser would boot this bank next.
    pub next: bool,
    /// Raw attribute bits, hex.
    pub attributes: String,
}

/// What the chooser picks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextBoot {
    /// `A` or `B`.
    pub bank: String,
    /// BOOT partition number.
    pub boot_partition: u32,
    /// BOOT partition's unique GUID.
    pub boot_partuuid: String,
    /// Picked because it has tries left (a trial boot): tries left is decremented.
    pub by_tries: bool,
    /// Tries left after the pick.
    pub tries_left: u8,
    /// The decision as one line, e.g. `bank B chosen by tries (1 → 0)`.
    pub decision: String,
}

/// The report of `signpost status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The disk.
    pub disk: String,
    /// Health of the GPT copies.
    pub gpt: GptHealth,
    /// The active bank, if known.
    pub active: Option<String>,
    /// How the active bank was determined.
    pub active_source: Option<ActiveSource>,
    /// The inactive bank, if the active one is known.
    pub inactive: Option<String>,
    /// What the chooser would boot next (without changing anything).
    pub next: Option<NextBoot>,
    /// PRIVATE's bit 57: a boot has ever succeeded.
    pub boot_ever_succeeded: bool,
    /// Both banks, A first.
    pub banks: Vec<BankStatus>,
}

impl Signpost {
    /// Reads the disk's GPT (primary, else backup), checks it has the Bottlerocket layout, and
    /// determines the active bank (see the module documentation).
    pub fn load(options: &LoadOptions) -> Result<Signpost> {
        let running = find_running_root(&options.root, &options.sys, &options.dev);
        let disk = match &options.disk {
            Some(disk) => disk.clone(),
            None => running
                .as_ref()
                .map_err(|reason| Error::RootDiskNotFound {
                    reason: reason.clone(),
                })?
                .disk
                .clone(),
        };
        let inspection = inspect_table(&disk).map_err(|source| match (&options.disk, source) {
            (None, source @ partitions::Error::Io { .. }) => Error::RootDiskUnreadable {
                disk: disk.clone(),
                source,
            },
            (_, source) => Error::Partitions(source),
        })?;
        let layout = DiskLayout::from_table(&disk, &inspection.table)?;
        let running_bank = match running {
            Ok(r) if options.disk.is_none() || is_running_disk(&disk, &r) => {
                let partition = r.partition.unwrap_or(0);
                Some(layout.bank_of_partition(partition).ok_or_else(|| {
                    Error::BootedPartitionUnknown {
                        disk: disk.clone(),
                        partition,
                    }
                })?)
            }
            _ => None,
        };
        let mut signpost = Signpost {
            disk,
            inspection,
            layout,
            active: None,
        };
        signpost.active = match (running_bank, options.booted) {
            (Some(detected), Some(given)) if detected != given => {
                return Err(Error::BootedMismatch {
                    disk: signpost.disk,
                    given,
                    detected,
                })
            }
            (Some(detected), _) => Some((detected, ActiveSource::Running)),
            (None, Some(given)) => Some((given, ActiveSource::Booted)),
            (None, None) => signpost
                .resting_choice()
                .map(|bank| (bank, ActiveSource::Chooser)),
        };
        Ok(signpost)
    }

    /// The disk.
    pub fn disk(&self) -> &Path {
        &self.disk
    }

    /// The banks and PRIVATE partition as read.
    pub fn layout(&self) -> &DiskLayout {
        &self.layout
    }

    /// The GPT copies as read.
    pub fn inspection(&self) -> &TableInspection {
        &self.inspection
    }

    /// The active bank and how it was determined, if known.
    pub fn active(&self) -> Option<(Bank, ActiveSource)> {
        self.active
    }

    /// PRIVATE's bit 57.
    pub fn boot_ever_succeeded(&self) -> bool {
        self.layout.private_attributes.boot_ever_succeeded()
    }

    /// Both banks' BOOT partitions as the chooser's candidates, with `attrs` giving each bank's
    /// attributes.
    fn candidates(&self, attrs: impl Fn(&BankPartitions) -> GptAttributes) -> [Candidate; 2] {
        self.layout.in_table_order().map(|b| Candidate {
            bank: b.bank,
            number: b.boot,
            attributes: attrs(b),
        })
    }

    /// The chooser's pick now, without changing anything.
    pub fn peek_next(&self) -> Option<BankChoice> {
        choose_bank(&self.candidates(|b| b.attributes)).ok()
    }

    fn resting_choice(&self) -> Option<Bank> {
        let no_tries = self.candidates(|b| {
            let mut attrs = b.attributes;
            attrs.set_tries_left(0).expect("0 is in range");
            attrs
        });
        choose_bank(&no_tries)
            .ok()
            .or_else(|| self.peek_next())
            .map(|c| c.bank)
    }

    fn require_active(&self) -> Result<(Bank, Bank)> {
        match self.active {
            Some((bank, _)) => Ok((bank, bank.other())),
            None => Err(Error::NoActiveBank {
                disk: self.disk.clone(),
                a: self.layout.a.attributes,
                b: self.layout.b.attributes,
            }),
        }
    }

    fn attrs(&self, bank: Bank) -> GptAttributes {
        self.layout.bank(bank).attributes
    }

    /// Writes BOOT attribute changes (and PRIVATE's, if given), both GPT copies, backup first,
    /// then reloads the state from what was written. A change that would leave no bootable bank
    /// on a disk that has one is refused and nothing is written.
    fn write(
        &mut self,
        banks: &[(Bank, GptAttributes)],
        private: Option<GptAttributes>,
    ) -> Result<()> {
        let after = self.candidates(|b| {
            banks
                .iter()
                .find(|(bank, _)| *bank == b.bank)
                .map_or(b.attributes, |&(_, a)| a)
        });
        if choose_bank(&after).is_err() && self.peek_next().is_some() {
            let get = |bank: Bank| {
                after
                    .iter()
                    .find(|c| c.bank == bank)
                    .expect("both")
                    .attributes
            };
            return Err(Error::WouldLeaveNoBootableBank {
                disk: self.disk.clone(),
                a: get(Bank::A),
                b: get(Bank::B),
            });
        }
        let mut updates: Vec<(u32, GptAttributes)> = banks
            .iter()
            .map(|&(bank, attrs)| (self.layout.bank(bank).boot, attrs))
            .collect();
        if let Some(attrs) = private {
            updates.push((self.layout.private, attrs));
        }
        set_attributes(&self.disk, &updates)?;
        self.reload()
    }

    /// Reads the table back after a write.
    fn reload(&mut self) -> Result<()> {
        self.inspection = inspect_table(&self.disk)?;
        self.layout = DiskLayout::from_table(&self.disk, &self.inspection.table)?;
        Ok(())
    }

    /// The full report.
    pub fn status(&self) -> Status {
        let active = self.active.map(|(b, _)| b);
        let next = self.peek_next();
        let bank_status = |b: &BankPartitions| BankStatus {
            bank: b.bank.to_string(),
            boot_partition: b.boot,
            root_partition: b.root,
            hash_partition: b.hash,
            boot_partuuid: b.boot_partuuid.to_string(),
            priority: b.attributes.priority(),
            tries_left: b.attributes.tries_left(),
            successful: b.attributes.successful(),
            bootable: b.attributes.is_bootable(),
            active: active == Some(b.bank),
            next: next.map(|c| c.bank) == Some(b.bank),
            attributes: format!("{:#018x}", b.attributes.bits()),
        };
        let i = &self.inspection;
        Status {
            disk: self.disk.display().to_string(),
            gpt: GptHealth {
                sector_size: i.table.sector_size,
                source: i.source.to_string(),
                primary_problem: i.primary_problem.clone(),
                backup_problem: i.backup_problem.clone(),
                copies_differ: i.copies_differ,
            },
            active: active.map(|b| b.to_string()),
            active_source: self.active.map(|(_, s)| s),
            inactive: active.map(|b| b.other().to_string()),
            next: next.map(|c| self.next_boot(c)),
            boot_ever_succeeded: self.boot_ever_succeeded(),
            banks: vec![bank_status(&self.layout.a), bank_status(&self.layout.b)],
        }
    }

    fn next_boot(&self, choice: BankChoice) -> NextBoot {
        let b = self.layout.bank(choice.bank);
        NextBoot {
            bank: choice.bank.to_string(),
            boot_partition: b.boot,
            boot_partuuid: b.boot_partuuid.to_string(),
            by_tries: choice.chosen_by_tries(),
            tries_left: choice.updated.tries_left(),
            decision: choice.to_string(),
        }
    }

    /// The host is healthy: the active bank gets successful = 1 and tries left = 0 (its priority
    /// is kept), and PRIVATE gets bit 57 ("a boot has ever succeeded").
    pub fn mark_successful_boot(&mut self) -> Result<()> {
        let (active, _) = self.require_active()?;
        let mut attrs = self.attrs(active);
        attrs.set_successful(true);
        attrs.set_tries_left(0).expect("0 is in range");
        let mut private = self.layout.private_attributes;
        private.set_boot_ever_succeeded(true);
        self.write(&[(active, attrs)], Some(private))
    }

    /// Before writing a new image into the inactive bank: it gets priority 0, tries left 0,
    /// successful 0, so GRUB never boots a half-written bank.
    pub fn clear_inactive(&mut self) -> Result<()> {
        let (_, inactive) = self.require_active()?;
        let attrs = self.attrs(inactive).cleared();
        self.write(&[(inactive, attrs)], None)
    }

    /// After writing a new image into the inactive bank: it gets priority 2, tries left 1,
    /// successful 0 (one trial boot); the active bank gets priority 1 and keeps its successful
    /// bit, so a failed trial falls back to it. Refused if the active bank is not marked
    /// successful (there would be nothing to fall back to).
    pub fn upgrade_to_inactive(&mut self) -> Result<()> {
        let (active, inactive) = self.require_active()?;
        let mut active_attrs = self.attrs(active);
        if !active_attrs.successful() {
            return Err(Error::ActiveNotSuccessful {
                disk: self.disk.clone(),
                active,
                inactive,
                attrs: active_attrs,
            });
        }
        let mut new = self.attrs(inactive);
        new.set_priority(2).expect("in range");
        new.set_tries_left(1).expect("in range");
        new.set_successful(false);
        active_attrs.set_priority(1).expect("in range");
        self.write(&[(inactive, new), (active, active_attrs)], None)
    }

    /// Undoes [`Signpost::upgrade_to_inactive`] before the reboot: the inactive bank is cleared
    /// (priority, tries, successful all 0) and the active bank gets priority 2.
    pub fn cancel_upgrade(&mut self) -> Result<()> {
        let (active, inactive) = self.require_active()?;
        let old = self.attrs(inactive).cleared();
        let mut active_attrs = self.attrs(active);
        active_attrs.set_priority(2).expect("in range");
        self.write(&[(inactive, old), (active, active_attrs)], None)
    }

    /// Makes the inactive bank the next boot: it gets priority 2 and the active bank priority 1.
    /// Only a bank marked successful qualifies; anything else is refused with the reason.
    pub fn rollback_to_inactive(&mut self) -> Result<()> {
        let (active, inactive) = self.require_active()?;
        let mut target = self.attrs(inactive);
        if !target.successful() {
            return Err(Error::InactiveNeverSucceeded {
                disk: self.disk.clone(),
                bank: inactive,
                attrs: target,
            });
        }
        target.set_priority(2).expect("in range");
        let mut active_attrs = self.attrs(active);
        active_attrs.set_priority(1).expect("in range");
        self.write(&[(inactive, target), (active, active_attrs)], None)
    }

    /// Runs GRUB's `gptprio.next` on the disk, with the boot stage's own code
    /// ([`partitions::next_boot`], i.e. `gptprio`): the highest-priority BOOT partition among
    /// those with the successful bit or tries left (ties: the lower partition number). If it was
    /// picked by tries, its tries left is decremented and both GPT copies are written, backup
    /// first, before this returns.
    pub fn choose_next(&mut self) -> Result<NextBoot> {
        let choice = match next_boot(&self.disk) {
            Ok(choice) => choice,
            Err(partitions::Error::NothingBootable { .. }) => {
                return Err(Error::NoBootableBank {
                    disk: self.disk.clone(),
                    a: self.layout.a.attributes,
                    b: self.layout.b.attributes,
                })
            }
            Err(e) => return Err(e.into()),
        };
        if choice.chosen_by_tries() {
            self.reload()?;
        }
        Ok(self.next_boot(choice))
    }
}

fn is_running_disk(disk: &Path, running: &RunningRoot) -> bool {
    block_devnum(disk) == Some(running.disk_devnum)
}
