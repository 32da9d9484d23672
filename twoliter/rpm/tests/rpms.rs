//! End-to-end tests on RPMs built by the host's `rpmbuild` (zstd payloads, like kit RPMs).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use twoliter_rpm::{
    install, resolve, ClosureError, Error, InstallOptions, Installer, RpmInfo, ScriptletKind,
};

const MTIME: i64 = 1_600_000_000;

/// The test packages: name → (spec preamble lines, %install script, %files lines, %post).
fn specs(outside: &Path) -> Vec<(&'static str, String, String, String, &'static str)> {
    let touch = format!("find %{{buildroot}} -exec touch -h -d @{MTIME} {{}} +");
    vec![
        (
            "base",
            "Provides: libbase.so.1\n".into(),
            format!(
                "mkdir -p %{{buildroot}}/usr/share/base/dir %{{buildroot}}/usr/bin\n\
                 printf 'secret\\n' > %{{buildroot}}/usr/share/base/secret\n\
                 printf 'hard\\n' > %{{buildroot}}/usr/share/base/hard1\n\
                 ln %{{buildroot}}/usr/share/base/hard1 %{{buildroot}}/usr/share/base/hard2\n\
                 ln -s secret %{{buildroot}}/usr/share/base/link\n\
                 printf '#!/bin/sh\\n' > %{{buildroot}}/usr/bin/tool\n\
                 printf 'mine\\n' > %{{buildroot}}/usr/share/base/daemon-owned\n\
                 {touch}\n"
            ),
            "%attr(0640,root,root) /usr/share/base/secret\n\
             %dir %attr(0750,root,root) /usr/share/base/dir\n\
             /usr/share/base/link\n\
             %attr(0644,root,root) /usr/share/base/hard1\n\
             %attr(0644,root,root) /usr/share/base/hard2\n\
             %attr(4755,root,root) /usr/bin/tool\n\
             %attr(0600,daemon,daemon) /usr/share/base/daemon-owned\n\
             %attr(0666,root,root) %dev(c,1,3) /usr/share/base/null\n"
                .into(),
            "",
        ),
        (
            "app",
            "Requires: libbase.so.1\nRequires: /usr/bin/tool\n".into(),
            format!(
                "mkdir -p %{{buildroot}}/usr/share/app\n\
                 printf 'app\\n' > %{{buildroot}}/usr/share/app/readme\n{touch}\n"
            ),
            "/usr/share/app/readme\n".into(),
            "",
        ),
        (
            "hook",
            String::new(),
            format!(
                "mkdir -p %{{buildroot}}/usr/share/hook\n\
                 printf 'x\\n' > %{{buildroot}}/usr/share/hook/x\n{touch}\n"
            ),
            "/usr/share/hook/x\n".into(),
            "echo hello\n",
        ),
        (
            "top",
            "Requires: broken\n".into(),
            String::new(),
            String::new(),
            "",
        ),
        (
            "broken",
            "Requires: libmissing.so.9\n".into(),
            String::new(),
            String::new(),
            "",
        ),
        (
            "clash",
            String::new(),
            format!(
                "mkdir -p %{{buildroot}}/usr/share/base\n\
                 printf 'other\\n' > %{{buildroot}}/usr/share/base/secret\n{touch}\n"
            ),
            "%attr(0640,root,root) /usr/share/base/secret\n".into(),
            "",
        ),
        (
            "twin",
            String::new(),
            format!(
                "mkdir -p %{{buildroot}}/usr/share/base\n\
                 printf 'secret\\n' > %{{buildroot}}/usr/share/base/secret\n{touch}\n"
            ),
            "%attr(0640,root,root) /usr/share/base/secret\n".into(),
            "",
        ),
        (
            "esc-link",
            String::new(),
            format!(
                "mkdir -p %{{buildroot}}\nln -s {} %{{buildroot}}/outside\n",
                outside.display()
            ),
            "/outside\n".into(),
            "",
        ),
        (
            "esc-file",
            String::new(),
            "mkdir -p %{buildroot}/outside\nprintf 'x\\n' > %{buildroot}/outside/pwned\n".into(),
            "/outside/pwned\n".into(),
            "",
        ),
    ]
}

struct Built {
    rpms: BTreeMap<String, PathBuf>,
    /// A host directory that `esc-link` points at; nothing may ever be written there.
    outside: PathBuf,
}

/// Builds the test RPMs once per test binary; `None` (with a NOTICE) without rpmbuild.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        // The oracle is required: a missing tool fails the tests instead of skipping them.
        assert!(
            Path::new("/usr/bin/rpmbuild").exists(),
            "/usr/bin/rpmbuild is missing; install it with `apt-get install rpm` (.ci/run does)"
        );
        // Kept for the whole run (a static cannot be dropped), so under the target dir.
        let top = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("tempdir")
            .keep();
        let outside = top.join("outside-host-dir");
        fs::create_dir_all(&outside).expect("mkdir");
        let mut rpms = BTreeMap::new();
        for (name, preamble, install, files, post) in specs(&outside) {
            let post = if post.is_empty() {
                String::new()
            } else {
                format!("%post\n{post}\n")
            };
            let spec = format!(
                "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: test {name}\nLicense: MIT\n\
                     BuildArch: noarch\nAutoReqProv: no\n{preamble}\n%description\ntest\n\n\
                     %install\n{install}\n{post}\n%files\n{files}\n"
            );
            let spec_path = top.join(format!("{name}.spec"));
            fs::write(&spec_path, spec).expect("write spec");
            let out = Command::new("/usr/bin/rpmbuild")
                .arg("-bb")
                .arg("--quiet")
                .arg("--define")
                .arg(format!("_topdir {}", top.join("rpmbuild").display()))
                .args(["--define", "_binary_payload w3.zstdio"])
                .args(["--define", "debug_package %{nil}"])
                .args(["--define", "__spec_install_post %{nil}"])
                .arg(&spec_path)
                .output()
                .expect("run rpmbuild");
            assert!(
                out.status.success(),
                "rpmbuild {name} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let rpm = top.join(format!("rpmbuild/RPMS/noarch/{name}-1.0-1.noarch.rpm"));
            assert!(rpm.exists(), "{} missing", rpm.display());
            rpms.insert(name.to_string(), rpm);
        }
        Built { rpms, outside }
    })
}

fn rpm(b: &Built, name: &str) -> PathBuf {
    b.rpms[name].clone()
}

fn all_infos(b: &Built) -> Vec<RpmInfo> {
    b.rpms
        .values()
        .map(|p| RpmInfo::read(p).expect("read"))
        .collect()
}

/// A root with `daemon` as uid/gid 2 (not the host's 1), as a passwd package would leave it.
fn new_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(root.path().join("etc")).expect("mkdir");
    fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:2:2::/:/sbin/nologin\n",
    )
    .expect("passwd");
    fs::write(root.path().join("etc/group"), "root:x:0:\ndaemon:x:2:\n").expect("group");
    root
}

#[test]
fn reads_rpm_headers() {
    let b = built();
    let base = RpmInfo::read(&rpm(b, "base")).unwrap();
    assert_eq!(
        (
            base.name.as_str(),
            base.version.as_str(),
            base.release.as_str()
        ),
        ("base", "1.0", "1")
    );
    assert_eq!(base.arch, "noarch");
    assert_eq!(base.epoch, None);
    assert_eq!(base.nevra(), "base-1.0-1.noarch");
    assert_eq!(base.payload_compressor, "zstd");
    assert!(base.provides.iter().any(|p| p.name == "libbase.so.1"));
    assert!(base.provides.iter().any(|p| p.name == "base"));
    assert!(base.files.contains(&"/usr/bin/tool".to_string()));
    assert!(base.scriptlets.is_empty());

    let app = RpmInfo::read(&rpm(b, "app")).unwrap();
    let requires: Vec<String> = app.requires.iter().map(|r| r.name.clone()).collect();
    assert!(requires.contains(&"libbase.so.1".into()), "{requires:?}");
    assert!(requires.contains(&"/usr/bin/tool".into()), "{requires:?}");
    assert!(
        !requires.iter().any(|r| r.starts_with("rpmlib(")),
        "{requires:?}"
    );

    let hook = RpmInfo::read(&rpm(b, "hook")).unwrap();
    assert_eq!(hook.scriptlets, vec![ScriptletKind::Post]);
}

#[test]
fn read_of_a_non_rpm_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.rpm");
    fs::write(&bogus, b"not an rpm at all, just some text padding it out").unwrap();
    let err = RpmInfo::read(&bogus).unwrap_err();
    assert!(matches!(err, Error::Header { .. }), "{err:?}");
    assert!(err.to_string().contains("bogus.rpm"), "{err}");
}

#[test]
fn resolves_closure_over_provides_and_file_requires() {
    let b = built();
    let infos = all_infos(b);
    let closure = resolve(&["app".into()], &infos).unwrap();
    let names: Vec<&str> = closure.iter().map(|&i| infos[i].name.as_str()).collect();
    assert_eq!(names, ["app", "base"]);
}

#[test]
fn missing_capability_error_has_chain() {
    let b = built();
    let infos = all_infos(b);
    let err = resolve(&["top".into()], &infos).unwrap_err();
    let ClosureError::MissingCapability {
        capability,
        name,
        package,
        chain,
        ..
    } = &err
    else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(capability, "libmissing.so.9");
    assert_eq!(name, "libmissing.so.9");
    assert_eq!(package, "broken-1.0-1.noarch");
    assert_eq!(
        chain,
        &[
            "wanted top",
            "requires broken",
            "requires libmissing.so.9 (missing)"
        ]
    );
    let msg = err.to_string();
    assert!(
        msg.contains("wanted top → requires broken → requires libmissing.so.9 (missing)"),
        "{msg}"
    );
}

#[test]
fn unknown_wanted_package_suggests_names() {
    let b = built();
    let infos = all_infos(b);
    let err = resolve(&["bsae".into()], &infos).unwrap_err();
    assert!(
        matches!(&err, ClosureError::UnknownPackage { name, suggestions }
            if name == "bsae" && suggestions.contains(&"base".to_string())),
        "{err:?}"
    );
}

#[test]
fn installs_payload_exactly() {
    let b = built();
    let root = new_root();
    let r = root.path();
    let report = install(&rpm(b, "base"), r, &InstallOptions::default()).unwrap();
    assert_eq!(report.package, "base-1.0-1.noarch");
    assert_eq!(report.files, 5, "{report:?}");
    assert_eq!(report.hardlinks, 1, "{report:?}");
    assert_eq!(report.symlinks, 1, "{report:?}");
    assert_eq!(report.devices, 1, "{report:?}");
    assert_eq!(report.directories, 1, "{report:?}");
    assert_eq!(
        report.bytes,
        ("secret\n".len() + "hard\n".len() + "#!/bin/sh\n".len() + "mine\n".len()) as u64
    );

    let meta = |p: &str| fs::symlink_metadata(r.join(p)).unwrap();
    let secret = meta("usr/share/base/secret");
    assert_eq!(secret.mode() & 0o7777, 0o640);
    assert_eq!((secret.uid(), secret.gid()), (0, 0));
    assert_eq!(secret.mtime(), MTIME);
    assert_eq!(
        fs::read(r.join("usr/share/base/secret")).unwrap(),
        b"secret\n"
    );

    assert_eq!(meta("usr/bin/tool").mode() & 0o7777, 0o4755, "setuid kept");

    let dir = meta("usr/share/base/dir");
    assert!(dir.is_dir());
    assert_eq!(dir.mode() & 0o7777, 0o750);
    assert_eq!(dir.mtime(), MTIME);

    let implied = meta("usr/share");
    assert!(implied.is_dir());
    assert_eq!(implied.mode() & 0o7777, 0o755);

    assert!(meta("usr/share/base/link").file_type().is_symlink());
    assert_eq!(
        fs::read_link(r.join("usr/share/base/link")).unwrap(),
        Path::new("secret")
    );
    assert_eq!(meta("usr/share/base/link").mtime(), MTIME);

    let (h1, h2) = (meta("usr/share/base/hard1"), meta("usr/share/base/hard2"));
    assert_eq!(h1.ino(), h2.ino());
    assert_eq!(h1.nlink(), 2);
    assert_eq!(fs::read(r.join("usr/share/base/hard2")).unwrap(), b"hard\n");

    let owned = meta("usr/share/base/daemon-owned");
    assert_eq!(
        (owned.uid(), owned.gid()),
        (2, 2),
        "ids from the root's passwd"
    );
    assert_eq!(owned.mode() & 0o7777, 0o600);

    let null = meta("usr/share/base/null");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc_makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
}

fn libc_makedev(major: u64, minor: u64) -> u64 {
    // Linux's encoding (glibc `makedev`).
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

#[test]
fn unknown_owner_is_an_error() {
    let b = built();
    let root = tempfile::tempdir().unwrap();
    let err = install(&rpm(b, "base"), root.path(), &InstallOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownOwner { kind: "user", name, entry, .. }
            if name == "daemon" && entry == "/usr/share/base/daemon-owned"),
        "{err:?}"
    );
    let options = InstallOptions {
        users: [("daemon".to_string(), 7)].into(),
        groups: [("daemon".to_string(), 8)].into(),
        ..InstallOptions::default()
    };
    let root = tempfile::tempdir().unwrap();
    install(&rpm(b, "base"), root.path(), &options).unwrap();
    let owned = fs::metadata(root.path().join("usr/share/base/daemon-owned")).unwrap();
    assert_eq!((owned.uid(), owned.gid()), (7, 8));
}

#[test]
fn scriptlets_are_refused() {
    let b = built();
    let root = new_root();
    let err = install(&rpm(b, "hook"), root.path(), &InstallOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Scriptlets { .. }), "{err:?}");
    assert!(msg.contains("%post"), "{msg}");
    assert!(msg.contains("hook-1.0-1.noarch"), "{msg}");
    assert!(!root.path().join("usr").exists(), "nothing written");

    let allow = InstallOptions {
        allow_scriptlets: true,
        ..InstallOptions::default()
    };
    install(&rpm(b, "hook"), root.path(), &allow).unwrap();
    assert_eq!(
        fs::read(root.path().join("usr/share/hook/x")).unwrap(),
        b"x\n"
    );
}

#[test]
fn file_conflict_names_both_packages() {
    let b = built();
    let root = new_root();
    let mut installer = Installer::new(root.path(), InstallOptions::default());
    installer.install(&rpm(b, "base")).unwrap();
    assert_eq!(
        installer.owner(Path::new("/usr/share/base/secret")),
        Some("base-1.0-1.noarch")
    );
    // Same contents: shared, not a conflict.
    installer.install(&rpm(b, "twin")).unwrap();
    let err = installer.install(&rpm(b, "clash")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert!(msg.contains("usr/share/base/secret"), "{msg}");
    assert!(msg.contains("clash-1.0-1.noarch"), "{msg}");
    assert!(
        msg.contains("twin-1.0-1.noarch") || msg.contains("base-1.0-1.noarch"),
        "{msg}"
    );
    assert_eq!(
        fs::read(root.path().join("usr/share/base/secret")).unwrap(),
        b"secret\n",
        "the existing file is kept"
    );
}

#[test]
fn closure_installs_into_one_root() {
    let b = built();
    let infos = all_infos(b);
    let root = new_root();
    let mut installer = Installer::new(root.path(), InstallOptions::default());
    for i in resolve(&["app".into()], &infos).unwrap() {
        installer.install(&infos[i].path).unwrap();
    }
    assert!(root.path().join("usr/share/app/readme").is_file());
    assert!(root.path().join("usr/bin/tool").is_file());
}

#[test]
fn symlinks_in_the_root_never_lead_outside() {
    let b = built();
    let root = new_root();
    let mut installer = Installer::new(root.path(), InstallOptions::default());
    installer.install(&rpm(b, "esc-link")).unwrap();
    installer.install(&rpm(b, "esc-file")).unwrap();
    assert!(!b.outside.join("pwned").exists(), "wrote outside the root");
    let inside = root
        .path()
        .join(b.outside.strip_prefix("/").unwrap())
        .join("pwned");
    assert!(inside.is_file(), "{} missing", inside.display());
}

#[test]
fn corrupt_payload_is_detected_before_writing() {
    let b = built();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("base-corrupt.rpm");
    let mut bytes = fs::read(rpm(b, "base")).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0xff;
    fs::write(&bad, bytes).unwrap();
    let root = new_root();
    let err = install(&bad, root.path(), &InstallOptions::default()).unwrap_err();
    assert!(matches!(err, Error::PayloadDigest { .. }), "{err:?}");
    assert!(!root.path().join("usr").exists());
}
