//! Runs the real `signpost` binary on real GPT disk images written by the real planner
//! (`partitions::plan` + `partitions::write_image`, as `twoliter` does), and checks the results
//! with `sgdisk -i/-v` (apt package `gdisk`) and by reading the table back.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use partitions::{
    inspect_table, plan, write_image, Bank, GptAttributes, GptCopy, Layout, PartitionId,
    PartitionPlan, PlanInput,
};
use serde_json::Value;

const SEED: [u8; 32] = *b"signpost-test-seed-0123456789abc";

struct Disk {
    _dir: tempfile::TempDir,
    path: PathBuf,
    layout: Layout,
}

impl Disk {
    /// A fresh 2 GiB (sparse) split-plan OS image with two banks.
    fn new() -> Disk {
        Disk::with(true)
    }

    fn with(in_place_updates: bool) -> Disk {
        let dir = tempfile::tempdir().unwrap();
        let layout = plan(&PlanInput {
            os_image_gib: 2,
            data_image_gib: 1,
            plan: PartitionPlan::Split,
            in_place_updates,
            seed: SEED,
        })
        .unwrap();
        let path = dir.path().join("os.img");
        write_image(&layout.os, &path).unwrap();
        Disk {
            _dir: dir,
            path,
            layout,
        }
    }

    fn number(&self, id: PartitionId) -> u32 {
        self.layout.os.partition(id).unwrap().number
    }

    fn boot(&self, bank: Bank) -> u32 {
        self.number(PartitionId::Boot(bank))
    }

    fn partuuid(&self, bank: Bank) -> String {
        self.layout
            .os
            .partition(PartitionId::Boot(bank))
            .unwrap()
            .partition_guid
            .to_string()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_signpost"))
            .arg("--disk")
            .arg(&self.path)
            .args(args)
            .env_remove("SIGNPOST_DISK")
            .output()
            .expect("run signpost")
    }

    /// Runs signpost, expects success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "signpost {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs signpost, expects exit status 2, returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "signpost {args:?} should fail:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).unwrap()
    }

    /// Attribute bits of partition `n` as `sgdisk -i` reports them.
    fn sgdisk_attrs(&self, n: u32) -> GptAttributes {
        let out = sgdisk(&["-i", &n.to_string(), self.s()]);
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("Attribute flags: "))
            .unwrap_or_else(|| panic!("no attribute flags in:\n{out}"));
        GptAttributes(u64::from_str_radix(line.trim(), 16).unwrap())
    }

    fn bank_attrs(&self, bank: Bank) -> GptAttributes {
        self.sgdisk_attrs(self.boot(bank))
    }

    fn private_attrs(&self) -> GptAttributes {
        self.sgdisk_attrs(self.number(PartitionId::Private))
    }

    fn s(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Both GPT copies valid, equal, and `sgdisk -v` content.
    fn assert_gpt_healthy(&self) {
        let out = sgdisk(&["-v", self.s()]);
        assert!(out.contains("No problems found"), "sgdisk -v:\n{out}");
        let i = inspect_table(&self.path).unwrap();
        assert_eq!(i.source, GptCopy::Primary);
        assert_eq!(i.primary_problem, None);
        assert_eq!(i.backup_problem, None);
        assert!(!i.copies_differ);
    }

    fn overwrite(&self, offset: u64, bytes: &[u8]) {
        let mut f = OpenOptions::new().write(true).open(&self.path).unwrap();
        f.seek(SeekFrom::Start(offset)).unwrap();
        f.write_all(bytes).unwrap();
        f.sync_all().unwrap();
    }

    fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut f = File::open(&self.path).unwrap();
        f.seek(SeekFrom::Start(offset)).unwrap();
        let mut buf = vec![0; len];
        f.read_exact(&mut buf).unwrap();
        buf
    }
}

fn sgdisk(args: &[&str]) -> String {
    let tool = ["/usr/sbin/sgdisk", "/sbin/sgdisk", "/usr/bin/sgdisk"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("sgdisk not found: install it with `apt-get install gdisk`");
    let out = Command::new(tool).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sgdisk {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn boot(p: u8, t: u8, s: bool) -> GptAttributes {
    GptAttributes::boot(p, t, s).unwrap()
}

fn bank_json<'a>(status: &'a Value, bank: &str) -> &'a Value {
    status["banks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bank"] == bank)
        .unwrap()
}

#[test]
fn fresh_image_status() {
    let d = Disk::new();
    assert_eq!(d.bank_attrs(Bank::A), boot(1, 0, true));
    assert_eq!(d.bank_attrs(Bank::B), GptAttributes::NONE);
    let s = d.status();
    assert_eq!(s["active"], "A");
    assert_eq!(s["active_source"], "chooser");
    assert_eq!(s["inactive"], "B");
    assert_eq!(s["next"]["bank"], "A");
    assert_eq!(s["next"]["by_tries"], false);
    assert_eq!(s["next"]["boot_partuuid"], d.partuuid(Bank::A));
    assert_eq!(s["boot_ever_succeeded"], false);
    assert_eq!(s["gpt"]["source"], "primary");
    let a = bank_json(&s, "A");
    assert_eq!(a["boot_partition"], d.boot(Bank::A));
    assert_eq!(a["root_partition"], d.boot(Bank::A) + 1);
    assert_eq!(a["hash_partition"], d.boot(Bank::A) + 2);
    assert_eq!(a["priority"], 1);
    assert_eq!(a["successful"], true);
    assert_eq!(a["active"], true);
    let b = bank_json(&s, "B");
    assert_eq!(b["boot_partition"], d.boot(Bank::B));
    assert_eq!(b["priority"], 0);
    assert_eq!(b["bootable"], false);

    let text = d.ok(&["status"]);
    assert!(text.contains("active bank: A"), "{text}");
    assert!(text.contains("boot has ever succeeded: false"), "{text}");

    // Reading changes nothing.
    assert_eq!(d.bank_attrs(Bank::A), boot(1, 0, true));
    d.assert_gpt_healthy();
}

#[test]
fn failed_trial_boot_falls_back() {
    let d = Disk::new();
    d.ok(&["upgrade-to-inactive"]);
    assert_eq!(d.bank_attrs(Bank::B), boot(2, 1, false));
    assert_eq!(d.bank_attrs(Bank::A), boot(1, 0, true));
    d.assert_gpt_healthy();
    // Staged but not booted: A is still the active bank, B is next.
    let s = d.status();
    assert_eq!(s["active"], "A");
    assert_eq!(s["next"]["bank"], "B");
    assert_eq!(s["next"]["by_tries"], true);

    // First boot: GRUB picks B by its try and decrements it before booting.
    let out = d.ok(&["next"]);
    assert_eq!(out.trim(), format!("B {}", d.partuuid(Bank::B)));
    assert_eq!(d.bank_attrs(Bank::B), boot(2, 0, false));
    d.assert_gpt_healthy();

    // B never got marked successful: the next boot rolls back to A, which is unchanged.
    let out = d.ok(&["next"]);
    assert_eq!(out.trim(), format!("A {}", d.partuuid(Bank::A)));
    assert_eq!(d.bank_attrs(Bank::A), boot(1, 0, true));
    assert_eq!(d.bank_attrs(Bank::B), boot(2, 0, false));
    let json: Value = serde_json::from_str(&d.ok(&["next", "--json"])).unwrap();
    assert_eq!(json["bank"], "A");
    assert_eq!(json["by_tries"], false);
    d.assert_gpt_healthy();
}

#[test]
fn successful_trial_boot_stays_then_rollback() {
    let d = Disk::new();
    d.ok(&["upgrade-to-inactive"]);
    assert!(d.ok(&["next"]).starts_with("B "));
    // The host booted B and is healthy.
    let out = d.ok(&["--booted", "B", "mark-successful-boot"]);
    assert!(
        out.contains("bank B: priority 2, tries left 0, successful"),
        "{out}"
    );
    assert_eq!(d.bank_attrs(Bank::B), boot(2, 0, true));
    assert_eq!(d.bank_attrs(Bank::A), boot(1, 0, true));
    assert!(d.private_attrs().boot_ever_succeeded());
    assert_eq!(d.private_attrs(), GptAttributes(1 << 57));
    d.assert_gpt_healthy();

    let out = d.run(&["has-boot-ever-succeeded"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");

    // B stays: no decrement, on every boot.
    for _ in 0..3 {
        assert!(d.ok(&["next"]).starts_with("B "));
    }
    assert_eq!(d.bank_attrs(Bank::B), boot(2, 0, true));
    let s = d.status();
    assert_eq!(s["active"], "B");
    assert_eq!(s["boot_ever_succeeded"], true);

    // Roll back to A, which booted successfully before.
    d.ok(&["rollback-to-inactive"]);
    assert_eq!(d.bank_attrs(Bank::A), boot(2, 0, true));
    assert_eq!(d.bank_attrs(Bank::B), boot(1, 0, true));
    assert!(d.ok(&["next"]).starts_with("A "));
    d.assert_gpt_healthy();
}

#[test]
fn cancel_upgrade() {
    let d = Disk::new();
    d.ok(&["upgrade-to-inactive"]);
    d.ok(&["cancel-upgrade"]);
    assert_eq!(d.bank_attrs(Bank::B), GptAttributes::NONE);
    assert_eq!(d.bank_attrs(Bank::A), boot(2, 0, true));
    assert!(d.ok(&["next"]).starts_with("A "));
    d.assert_gpt_healthy();
}

#[test]
fn clear_inactive_and_refused_rollback() {
    let d = Disk::new();
    // Fresh image: B never booted, so there is nothing to roll back to.
    let before = d.read(0, 34 * 512);
    let err = d.fails(&["rollback-to-inactive"]);
    assert!(err.contains("cannot roll back to bank B"), "{err}");
    assert!(err.contains("not booted successfully"), "{err}");
    assert!(err.contains("os.img"), "{err}");
    assert_eq!(
        d.read(0, 34 * 512),
        before,
        "a refused command writes nothing"
    );

    d.ok(&["upgrade-to-inactive"]);
    d.ok(&["clear-inactive"]);
    assert_eq!(d.bank_attrs(Bank::B), GptAttributes::NONE);
    assert_eq!(d.bank_attrs(Bank::A), boot(1, 0, true));
    assert!(d.ok(&["next"]).starts_with("A "));

    // A bank that booted successfully but was then cleared cannot be rolled back to.
    d.ok(&["upgrade-to-inactive"]);
    d.ok(&["next"]);
    d.ok(&["--booted", "b", "mark-successful-boot"]);
    d.ok(&["clear-inactive"]);
    assert_eq!(d.bank_attrs(Bank::A), GptAttributes::NONE);
    let err = d.fails(&["rollback-to-inactive"]);
    assert!(err.contains("bank A"), "{err}");
    d.assert_gpt_healthy();
}

#[test]
fn has_boot_ever_succeeded_on_fresh_image() {
    let d = Disk::new();
    let out = d.run(&["has-boot-ever-succeeded"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "false");
    d.ok(&["mark-successful-boot"]);
    assert_eq!(d.bank_attrs(Bank::A), boot(1, 0, true));
    let out = d.run(&["has-boot-ever-succeeded"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn upgrade_refused_when_active_not_successful() {
    let d = Disk::new();
    d.ok(&["upgrade-to-inactive"]);
    d.ok(&["next"]);
    // Booted B, not yet marked successful: staging into A would leave no fallback.
    let err = d.fails(&["--booted", "B", "upgrade-to-inactive"]);
    assert!(err.contains("mark-successful-boot"), "{err}");
    assert_eq!(d.bank_attrs(Bank::A), boot(1, 0, true));
}

/// The primary header destroyed, then only the primary entry array: status reads the backup,
/// says so, and the next write repairs the primary.
#[test]
fn damaged_primary_uses_backup() {
    let d = Disk::new();
    d.ok(&["upgrade-to-inactive"]);
    for (offset, bytes) in [(512u64, vec![0u8; 512]), (2 * 512 + 10, vec![0xff; 4])] {
        d.overwrite(offset, &bytes);
        let s = d.status();
        assert_eq!(s["gpt"]["source"], "backup", "{s}");
        assert!(s["gpt"]["primary_problem"].is_string(), "{s}");
        assert_eq!(bank_json(&s, "B")["priority"], 2);
        assert_eq!(s["next"]["bank"], "B");
        let text = d.ok(&["status"]);
        assert!(text.contains("primary copy unusable"), "{text}");
        // A write from the backup rewrites both copies.
        d.ok(&["next"]);
        d.assert_gpt_healthy();
        assert_eq!(d.bank_attrs(Bank::B), boot(2, 0, false));
        d.ok(&["upgrade-to-inactive"]);
    }

    // Both copies destroyed: a clear error.
    let len = std::fs::metadata(&d.path).unwrap().len();
    d.overwrite(512, &[0u8; 512]);
    d.overwrite(len - 512, &[0u8; 512]);
    let err = d.fails(&["status"]);
    assert!(err.contains("no valid GPT"), "{err}");
    assert!(err.contains("os.img"), "{err}");
}

/// A write interrupted after the backup copy was synced: the old primary is still valid and
/// wins, the state is the old one, and the next write makes both copies equal.
#[test]
fn interrupted_write_keeps_old_primary() {
    let d = Disk::new();
    let old_primary = d.read(512, 33 * 512);
    d.ok(&["upgrade-to-inactive"]);
    d.overwrite(512, &old_primary);
    let s = d.status();
    assert_eq!(s["gpt"]["source"], "primary");
    assert_eq!(s["gpt"]["copies_differ"], true);
    assert_eq!(bank_json(&s, "B")["priority"], 0);
    assert!(d.ok(&["next"]).starts_with("A "));
    d.ok(&["mark-successful-boot"]);
    d.assert_gpt_healthy();
    assert_eq!(d.bank_attrs(Bank::B), GptAttributes::NONE);
}

#[test]
fn non_bottlerocket_disks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("plain.img");
    File::create(&img).unwrap().set_len(64 << 20).unwrap();
    sgdisk(&[
        "-o",
        "-n",
        "1:2048:+10M",
        "-c",
        "1:data",
        img.to_str().unwrap(),
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_signpost"))
        .args(["status", "--disk"])
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not have the Bottlerocket partition layout"),
        "{err}"
    );
    assert!(err.contains("BOTTLEROCKET-BOOT-A"), "{err}");

    // No GPT at all.
    let blank = dir.path().join("blank.img");
    File::create(&blank).unwrap().set_len(8 << 20).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_signpost"))
        .args(["next", "--disk"])
        .arg(&blank)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no valid GPT"));

    // One bank only (built without in-place updates).
    let d = Disk::with(false);
    let err = d.fails(&["upgrade-to-inactive"]);
    assert!(err.contains("only bank A"), "{err}");
}

#[test]
fn booted_flag_and_no_bootable_bank() {
    let d = Disk::new();
    let s: Value = serde_json::from_str(&d.ok(&["--booted", "B", "status", "--json"])).unwrap();
    assert_eq!(s["active"], "B");
    assert_eq!(s["active_source"], "booted");
    // Claiming B was booted and clearing A would leave nothing bootable: refused, unchanged.
    let err = d.fails(&["--booted", "B", "clear-inactive"]);
    assert!(err.contains("no bank would be bootable"), "{err}");
    assert_eq!(d.bank_attrs(Bank::A), boot(1, 0, true));
    // A trial boot of B that is cancelled from B before it was marked successful: refused too.
    d.ok(&["upgrade-to-inactive"]);
    d.ok(&["next"]);
    let err = d.fails(&["--booted", "B", "cancel-upgrade"]);
    assert!(err.contains("mark-successful-boot"), "{err}");
    assert_eq!(d.bank_attrs(Bank::A), boot(1, 0, true));
    assert_eq!(d.bank_attrs(Bank::B), boot(2, 0, false));

    // A disk with no bootable bank (damaged by hand): `next` fails, and the active bank is
    // unknown without `--booted`.
    let n = d.boot(Bank::A).to_string();
    sgdisk(&["-A", &format!("{n}:clear:56"), d.s()]);
    let err = d.fails(&["next"]);
    assert!(err.contains("no bank"), "{err}");
    let err = d.fails(&["mark-successful-boot"]);
    assert!(err.contains("--booted"), "{err}");
    // Marking the bank that booted repairs it.
    d.ok(&["--booted", "A", "mark-successful-boot"]);
    assert!(d.ok(&["next"]).starts_with("A "));
}

#[test]
fn help_teaches() {
    let out = Command::new(env!("CARGO_BIN_EXE_signpost"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "gptprio.next",
        "upgrade-to-inactive",
        "mark-successful-boot",
        "backup copy first",
        "Exit status",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
}

/// One attribute transition: attributes set before (on top of a fresh image), the signpost
/// commands run, and the attributes of BOOT-A, BOOT-B and PRIVATE afterwards.
struct Transition {
    name: &'static str,
    before: Option<[GptAttributes; 3]>,
    /// Each command, and whether it must succeed.
    commands: &'static [(&'static [&'static str], bool)],
    after: [GptAttributes; 3],
    /// The decision line of the last `next`, if any.
    decision: Option<&'static str>,
}

fn with(attrs: GptAttributes, bits: u64) -> GptAttributes {
    GptAttributes(attrs.bits() | bits)
}

fn transitions() -> Vec<Transition> {
    let none = GptAttributes::NONE;
    let ever = GptAttributes(1 << 57);
    let fresh = [boot(1, 0, true), none, none];
    let staged = [boot(1, 0, true), boot(2, 1, false), none];
    const UP: &[&str] = &["upgrade-to-inactive"];
    const NEXT: &[&str] = &["next"];
    const MARK_B: &[&str] = &["--booted", "B", "mark-successful-boot"];
    const ROLLBACK_B: &[&str] = &["--booted", "B", "rollback-to-inactive"];
    let unknown = (1 << 2) | (1 << 60);
    vec![
        Transition {
            name: "fresh image: A priority 1 + successful, B zero",
            before: None,
            commands: &[(&["status"], true)],
            after: fresh,
            decision: None,
        },
        Transition {
            name: "upgrade-to-inactive",
            before: None,
            commands: &[(UP, true)],
            after: staged,
            decision: None,
        },
        Transition {
            name: "trial boot by tries 1 → 0",
            before: None,
            commands: &[(UP, true), (NEXT, true)],
            after: [boot(1, 0, true), boot(2, 0, false), none],
            decision: Some("bank B chosen by tries (1 → 0)"),
        },
        Transition {
            name: "a trial that never marks success falls back",
            before: None,
            commands: &[(UP, true), (NEXT, true), (NEXT, true)],
            after: [boot(1, 0, true), boot(2, 0, false), none],
            decision: Some("bank A chosen as successful"),
        },
        Transition {
            name: "mark-successful-boot after the trial",
            before: None,
            commands: &[(UP, true), (NEXT, true), (MARK_B, true)],
            after: [boot(1, 0, true), boot(2, 0, true), ever],
            decision: Some("bank B chosen by tries (1 → 0)"),
        },
        Transition {
            name: "cancel-upgrade",
            before: None,
            commands: &[(UP, true), (&["cancel-upgrade"], true)],
            after: [boot(2, 0, true), none, none],
            decision: None,
        },
        Transition {
            name: "rollback-to-inactive",
            before: None,
            commands: &[(UP, true), (NEXT, true), (MARK_B, true), (ROLLBACK_B, true)],
            after: [boot(2, 0, true), boot(1, 0, true), ever],
            decision: Some("bank B chosen by tries (1 → 0)"),
        },
        Transition {
            name: "both zero: nothing bootable, nothing written",
            before: Some([none, none, none]),
            commands: &[(NEXT, false)],
            after: [none, none, none],
            decision: None,
        },
        Transition {
            name: "tie on priority: the lower partition number",
            before: Some([boot(2, 0, true), boot(2, 1, false), none]),
            commands: &[(NEXT, true)],
            after: [boot(2, 0, true), boot(2, 1, false), none],
            decision: Some("bank A chosen as successful"),
        },
        Transition {
            name: "unknown bits preserved",
            before: Some([
                with(boot(1, 0, true), 1 << 62),
                GptAttributes(unknown),
                none,
            ]),
            commands: &[(UP, true), (NEXT, true)],
            after: [
                with(boot(1, 0, true), 1 << 62),
                with(boot(2, 0, false), unknown),
                none,
            ],
            decision: Some("bank B chosen by tries (1 → 0)"),
        },
    ]
}

impl Disk {
    /// BOOT-A, BOOT-B and PRIVATE.
    fn attr_partitions(&self) -> [u32; 3] {
        [
            self.boot(Bank::A),
            self.boot(Bank::B),
            self.number(PartitionId::Private),
        ]
    }

    /// Writes these attributes with gptprio's own reader/writer.
    fn write_with_gptprio(&self, attrs: [GptAttributes; 3]) {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .unwrap();
        let mut dev = gptprio::FileDevice::new(file, 512).unwrap();
        let mut gpt = gptprio::Gpt::read(&mut dev).unwrap();
        for (n, a) in self.attr_partitions().into_iter().zip(attrs) {
            gpt.set_attributes(n, a).unwrap();
        }
        gpt.write(&mut dev).unwrap();
    }

    /// Writes these attributes with sgdisk.
    fn write_with_sgdisk(&self, attrs: [GptAttributes; 3]) {
        let mut args = Vec::new();
        for (n, a) in self.attr_partitions().into_iter().zip(attrs) {
            args.push("-A".to_string());
            args.push(format!("{n}:=:{:016x}", a.bits()));
        }
        args.push(self.s().to_string());
        sgdisk(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Both GPT copies: LBA 1–33 and the last 33 LBAs (the protective MBR is left out: sgdisk
    /// computes its CHS fields where gptman writes "not representable").
    fn gpt_copies(&self) -> Vec<u8> {
        let len = std::fs::metadata(&self.path).unwrap().len();
        [
            self.read(512, 33 * 512),
            self.read(len - 33 * 512, 33 * 512),
        ]
        .concat()
    }
}

/// For every transition: signpost's result on disk is byte for byte what gptprio's writer and
/// sgdisk write for the expected attributes (both GPT copies), `sgdisk -v` finds both copies
/// valid, and `sgdisk -i` shows the expected attribute values.
#[test]
fn transition_table() {
    for t in transitions() {
        let [by_signpost, by_gptprio, by_sgdisk] = [Disk::new(), Disk::new(), Disk::new()];
        if let Some(before) = t.before {
            for d in [&by_signpost, &by_gptprio, &by_sgdisk] {
                d.write_with_gptprio(before);
            }
        }
        let mut decision = None;
        for &(args, ok) in t.commands {
            let out = by_signpost.run(args);
            assert_eq!(
                out.status.success(),
                ok,
                "{}: signpost {args:?}:\n{}{}",
                t.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if args == ["next"] && ok {
                decision = Some(String::from_utf8_lossy(&out.stderr).trim().to_string());
            }
        }
        assert_eq!(decision.as_deref(), t.decision, "{}", t.name);
        by_gptprio.write_with_gptprio(t.after);
        by_sgdisk.write_with_sgdisk(t.after);

        by_signpost.assert_gpt_healthy();
        for (n, a) in by_signpost.attr_partitions().into_iter().zip(t.after) {
            assert_eq!(by_signpost.sgdisk_attrs(n), a, "{}: partition {n}", t.name);
        }
        let ours = by_signpost.gpt_copies();
        assert!(
            ours == by_gptprio.gpt_copies(),
            "{}: differs from gptprio's",
            t.name
        );
        assert!(
            ours == by_sgdisk.gpt_copies(),
            "{}: differs from sgdisk's",
            t.name
        );
    }
}
