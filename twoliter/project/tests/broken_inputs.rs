//! Table-driven checks that each kind of broken project input yields a diagnostic naming the
//! file, position (where the parser knows it), key and problem.

use std::path::Path;
use twoliter_project::{Project, ProjectError};

const KIT_SCHEMA: &str = "# yaml-language-server: $schema=../../schemas/kit.schema.json\n";
const PKG_SCHEMA: &str =
    "# yaml-language-server: $schema=../../../../schemas/package.schema.json\n";
const VAR_SCHEMA: &str = "# yaml-language-server: $schema=../../schemas/variant.schema.json\n";

fn sha512() -> String {
    "ab".repeat(64)
}

/// A small valid project: one kit with packages `a` and `b` (b build-depends on a), a shared
/// base and one variant.
fn fixture(root: &Path) {
    let files = [
        (
            "Twoliter.toml",
            "schema-version = 1\nrelease-version = \"1.0.0\"\n\n[vendor.acme]\nregistry = \"registry.example.com/acme\"\n\n[sdk]\nname = \"sdk\"\nversion = \"1.0.0\"\nvendor = \"acme\"\n".to_string(),
        ),
        (
            "Twoliter.lock",
            format!("schema-version = 1\n[sdk]\nname = \"sdk\"\nversion = \"1.0.0\"\nvendor = \"acme\"\nsource = \"registry.example.com/acme/sdk:1.0.0\"\ndigest = \"sha256:{}\"\n", "0".repeat(64)),
        ),
        ("kits/k/kit.yaml", format!("{KIT_SCHEMA}name: k\n")),
        (
            "kits/k/packages/a/package.yaml",
            format!("{PKG_SCHEMA}name: a\nversion: \"1.0\"\nexternal-files:\n  - url: https://example.com/a-1.0.tar.gz\n    sha512: {}\n", sha512()),
        ),
        ("kits/k/packages/a/a.spec", "Name: a\nVersion: 1.0\n".to_string()),
        (
            "kits/k/packages/b/package.yaml",
            format!("{PKG_SCHEMA}name: b\nversion: \"2.0\"\nbuild-dependencies: [a]\n"),
        ),
        ("kits/k/packages/b/b.spec", "Name: b\nVersion: %{pkgver}\n".to_string()),
        ("variants/shared/base.yaml", format!("{VAR_SCHEMA}kits: [k]\nincluded-packages: [a]\n")),
        (
            "variants/metal-dev/variant.yaml",
            format!("{VAR_SCHEMA}inherits: [base]\nincluded-packages: [b]\n"),
        ),
    ];
    for (path, text) in files {
        write(root, path, &text);
    }
    twoliter_project::schema::write_all(&root.join("schemas")).unwrap();
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A change to the fixture: write a file, or remove one when the text is `None`.
type Edit = (&'static str, Option<String>);

struct Case {
    name: &'static str,
    edits: Vec<Edit>,
    /// Every string must appear in the rendered problems.
    expect: Vec<&'static str>,
}

fn case(name: &'static str, edits: Vec<Edit>, expect: Vec<&'static str>) -> Case {
    Case {
        name,
        edits,
        expect,
    }
}

fn set(path: &'static str, text: impl Into<String>) -> Edit {
    (path, Some(text.into()))
}

fn variant(body: &str) -> Edit {
    set(
        "variants/metal-dev/variant.yaml",
        format!("{VAR_SCHEMA}{body}"),
    )
}

fn package_a(body: &str) -> Edit {
    set(
        "kits/k/packages/a/package.yaml",
        format!("{PKG_SCHEMA}{body}"),
    )
}

fn toml(body: &str) -> Edit {
    set("Twoliter.toml", body.to_string())
}

const TOML_OK: &str = "schema-version = 1\nrelease-version = \"1.0.0\"\n";

fn cases() -> Vec<Case> {
    let sha = sha512();
    vec![
        case("malformed toml", vec![toml("schema-version = \nrelease-version = \"1.0.0\"\n")], vec!["Twoliter.toml:1:", "invalid string; expected `\"`, `'`"]),
        case("unknown toml key", vec![toml(&format!("{TOML_OK}colour = 1\n"))], vec!["Twoliter.toml:3:1", "unknown field `colour`", "expected one of"]),
        case("toml wrong type", vec![toml("schema-version = 1\nrelease-version = 5\n")], vec!["Twoliter.toml:2:", "release-version", "invalid type: integer"]),
        case("toml bad semver", vec![toml("schema-version = 1\nrelease-version = \"1.0\"\n")], vec!["Twoliter.toml:2:", "release-version", "unexpected end of input"]),
        case("toml missing key", vec![toml("schema-version = 1\n")], vec!["Twoliter.toml", "missing field `release-version`"]),
        case("schema version", vec![toml("schema-version = 2\nrelease-version = \"1.0.0\"\n")], vec!["Twoliter.toml:1:1: schema-version:", "schema version 2 is not supported", "help: set `schema-version = 1`"]),
        case("sdk without vendor", vec![toml(&format!("{TOML_OK}[sdk]\nname = \"s\"\nversion = \"1.0.0\"\n"))], vec!["Twoliter.toml:3:1: sdk:", "names no vendor and is not local"]),
        case("undefined vendor", vec![toml(&format!("{TOML_OK}[sdk]\nname = \"s\"\nversion = \"1.0.0\"\nvendor = \"nope\"\n"))], vec!["sdk.vendor", "vendor `nope` is not defined", "[vendor.nope]"]),
        case("kit vendor undefined", vec![toml(&format!("{TOML_OK}[[kit]]\nname = \"x\"\nversion = \"1.0.0\"\nvendor = \"gone\"\n"))], vec!["kit[0].vendor", "vendor `gone` is not defined"]),
        case("registry with scheme", vec![toml(&format!("{TOML_OK}[vendor.v]\nregistry = \"https://r.example\"\n"))], vec!["vendor.v.registry", "not a registry host/path", "without a scheme"]),
        case("lock bad digest", vec![set("Twoliter.lock", "schema-version = 1\n[sdk]\nname = \"sdk\"\nversion = \"1.0.0\"\nvendor = \"acme\"\nsource = \"registry.example.com/acme/sdk:1.0.0\"\ndigest = \"sha256:xyz\"\n")], vec!["Twoliter.lock:7:", "digest `sha256:xyz`", "64 lowercase hex"]),
        case("lock stale kit", vec![
            toml("schema-version = 1\nrelease-version = \"1.0.0\"\n[vendor.acme]\nregistry = \"r.example/acme\"\n[[kit]]\nname = \"extra\"\nversion = \"1.0.0\"\nvendor = \"acme\"\n"),
            set("Twoliter.lock", "schema-version = 1\n"),
        ], vec!["Twoliter.lock", "kit `extra` is not in the lock", "twoliter update"]),
        case("lock missing for kits", vec![
            toml("schema-version = 1\nrelease-version = \"1.0.0\"\n[vendor.acme]\nregistry = \"r.example/acme\"\n[[kit]]\nname = \"extra\"\nversion = \"1.0.0\"\nvendor = \"acme\"\n"),
            ("Twoliter.lock", None),
        ], vec!["Twoliter.lock: the lock file is missing", "twoliter update"]),
        case("lock without sdk", vec![set("Twoliter.lock", "schema-version = 1\n")], vec!["Twoliter.lock", "asks for SDK sdk 1.0.0 but the lock pins no SDK"]),
        case("sdk local and vendor", vec![toml(&format!("{TOML_OK}[vendor.acme]\nregistry = \"r.example/acme\"\n[sdk]\nname = \"s\"\nversion = \"1.0.0\"\nvendor = \"acme\"\nlocal = true\n"))], vec!["sdk:", "both local and from a vendor"]),
        case("pre-release version", vec![toml("schema-version = 1\nrelease-version = \"1.0.0-rc.1\"\n")], vec!["Twoliter.toml:2:1: release-version:", "is not plain X.Y.Z"]),
        case("unused broken base", vec![set("variants/shared/unused.yaml", format!("{VAR_SCHEMA}this: [is not\n"))], vec!["variants/shared/unused.yaml:2:1: this: unknown field `this`"]),
        case("reserved parameter in a base", vec![set("variants/shared/base.yaml", format!("{VAR_SCHEMA}kits: [k]\nincluded-packages: [a]\nkernel-parameters: [ro]\n"))], vec!["variants/shared/base.yaml:4:", "`ro` is set by twoliter itself"]),
        case("inheriting a variant", vec![
            set("variants/aws-dev/variant.yaml", format!("{VAR_SCHEMA}inherits: [metal-dev]\n")),
        ], vec!["variants/aws-dev/variant.yaml:2:12: inherits:", "`metal-dev` is a variant; variants cannot be inherited"]),
        case("release zero", vec![package_a("name: a\nversion: \"1.0\"\nrelease: 0\n")], vec!["package.yaml:4:1: release:", "release 0 is not allowed"]),
        case("spec outside the package", vec![package_a("name: a\nversion: \"1.0\"\nspec: ../b/b.spec\n")], vec!["spec:", "is not a file name in the package directory"]),
        case("data image too large", vec![variant("inherits: [base]\nimage-layout: {data-image-size-gib: 100000}\n")], vec!["variant.yaml:3:", "image-layout.data-image-size-gib", "100000 GiB is outside 1..=65536"]),
        case("broken package is reported once", vec![package_a("name: a\nversion: \"1.0\"\nrelease: -1\n")], vec!["package.yaml:4:10: release:"]),
        case("unknown settings family", vec![variant("inherits: [base]\nsettings-families: [motd, kubernets]\n")], vec!["variant.yaml:3:27: settings-families:", "`kubernets` is not a settings family", "kubernetes"]),
        case("malformed yaml", vec![variant("inherits: [base\nincluded-packages: [b]\n")], vec!["variants/metal-dev/variant.yaml:3:", "did not find expected"]),
        case("unknown yaml key", vec![variant("inherits: [base]\nincluded-package: [b]\n")], vec!["variants/metal-dev/variant.yaml:3:1", "unknown field `included-package`", "included-packages"]),
        case("yaml wrong type", vec![variant("inherits: [base]\nimage-layout:\n  os-image-size-gib: big\n")], vec!["variant.yaml:4:22: image-layout.os-image-size-gib:", "invalid type: string \"big\", expected u32"]),
        case("unknown image format", vec![variant("inherits: [base]\nimage-format: iso\n")], vec!["variant.yaml:3:15: image-format:", "unknown variant `iso`", "expected one of `raw`, `qcow2`, `vmdk`"]),
        case("unknown image feature", vec![variant("inherits: [base]\nimage-features:\n  turbo: true\n")], vec!["variant.yaml:4:3: image-features:", "unknown variant `turbo`", "in-place-updates"]),
        case("unknown arch", vec![variant("inherits: [base]\nsupported-arches: [riscv64]\n")], vec!["variant.yaml:3:20: supported-arches[0]:", "unknown variant `riscv64`", "x86_64"]),
        case("zero os size", vec![variant("inherits: [base]\nimage-layout: {os-image-size-gib: 0}\n")], vec!["variant.yaml:3:", "image-layout.os-image-size-gib", "0 GiB is outside 1..=1024"]),
        case("publish hint too small", vec![variant("inherits: [base]\nimage-layout: {os-image-size-gib: 4, publish-image-size-hint-gib: 4}\n")], vec!["publish-image-size-hint-gib", "leaves no room for data"]),
        case("empty arch list", vec![variant("inherits: [base]\nsupported-arches: []\n")], vec!["supported-arches", "the list is empty"]),
        case("missing base", vec![variant("inherits: [nope]\nkits: [k]\nincluded-packages: [b]\n")], vec!["variants/metal-dev/variant.yaml:2:12: inherits:", "base `nope` does not exist", "variants/shared/nope.yaml"]),
        case("inheritance cycle", vec![
            set("variants/shared/x.yaml", format!("{VAR_SCHEMA}inherits: [y]\n")),
            set("variants/shared/y.yaml", format!("{VAR_SCHEMA}inherits: [x]\n")),
            variant("inherits: [base, x]\n"),
        ], vec!["variants/shared/y.yaml:2:12: inherits:", "inheritance cycle: metal-dev -> x -> y -> x"]),
        case("missing package", vec![variant("inherits: [base]\nincluded-packages: [b, ghost]\n")], vec!["variant.yaml:3:24: included-packages:", "package `ghost` is included by variant metal-dev, but no kit has it"]),
        case("unknown kit", vec![variant("inherits: [base]\nkits: [zzz]\n")], vec!["variant.yaml:3:8: kits:", "kit `zzz` is neither a local kit"]),
        case("kernel parameter with space", vec![variant("inherits: [base]\nkernel-parameters: [\"quiet splash\"]\n")], vec!["kernel-parameters", "`quiet splash` is not one kernel parameter"]),
        case("reserved kernel parameter", vec![variant("inherits: [base]\nkernel-parameters: [\"root=/dev/sda\"]\n")], vec!["variant.yaml:3:", "`root=/dev/sda` is set by twoliter itself"]),
        case("bad variant name", vec![set("variants/Bad_Name/variant.yaml", format!("{VAR_SCHEMA}inherits: [base]\n"))], vec!["variants/Bad_Name: variant name `Bad_Name` is not `platform-runtime[-version][-flavor]`"]),
        case("variant dir without manifest", vec![set("variants/aws-dev/README", "x")], vec!["variants/aws-dev: the variant directory has no variant.yaml"]),
        case("empty manifest", vec![variant("\n")], vec!["variants/metal-dev/variant.yaml: the manifest is empty"]),
        case("schema line missing", vec![set("variants/metal-dev/variant.yaml", "inherits: [base]\n")], vec!["variants/metal-dev/variant.yaml:1:1: the first line does not name the manifest's JSON Schema", "../../schemas/variant.schema.json"]),
        case("schema line wrong", vec![set("kits/k/kit.yaml", "# yaml-language-server: $schema=../../schemas/variant.schema.json\nname: k\n")], vec!["kits/k/kit.yaml:1:", "not to schemas/kit.schema.json"]),
        case("missing spec", vec![("kits/k/packages/a/a.spec", None)], vec!["kits/k/packages/a/package.yaml", "cannot read spec file", "add `a.spec` beside package.yaml"]),
        case("bad sha512", vec![package_a("name: a\nversion: \"1.0\"\nexternal-files:\n  - url: https://example.com/a.tgz\n    sha512: 1234\n")], vec!["kits/k/packages/a/package.yaml:6:13: external-files[0].sha512:", "`1234` is not a SHA-512 digest (4 characters", "sha512sum"]),
        case("bad url", vec![package_a(&format!("name: a\nversion: \"1.0\"\nexternal-files:\n  - url: ftp://example.com/a.tgz\n    sha512: {sha}\n"))], vec!["external-files[0].url", "`ftp://example.com/a.tgz` is not an http(s) URL"]),
        case("debian source without path", vec![package_a(&format!("name: a\nversion: \"1.0\"\nexternal-files:\n  - debian-source: grub2=2.06-13\n    sha512: {sha}\n"))], vec!["external-files[0].path", "a file of Debian source package grub2=2.06-13 needs `path:`", ".dsc"]),
        case("bad debian source", vec![package_a(&format!("name: a\nversion: \"1.0\"\nexternal-files:\n  - debian-source: grub2\n    path: a.tgz\n    sha512: {sha}\n"))], vec!["external-files", "`grub2` is not `<package>=<version>`"]),
        case("url and debian source", vec![package_a(&format!("name: a\nversion: \"1.0\"\nexternal-files:\n  - url: https://example.com/a.tgz\n    debian-source: grub2=2.06-13\n    sha512: {sha}\n"))], vec!["external-files[0].debian-source", "both `url` and `debian-source`"]),
        case("external file from nowhere", vec![package_a(&format!("name: a\nversion: \"1.0\"\nexternal-files:\n  - path: a.tgz\n    sha512: {sha}\n"))], vec!["external-files[0]", "needs `url`, `debian-source` or `debian-package`"]),
        case("debian package without its architecture", vec![package_a(&format!("name: a\nversion: \"1.0\"\nexternal-files:\n  - debian-package: libaudit1=1:3.0.9-1\n    path: libaudit1.deb\n    sha512: {sha}\n"))], vec!["external-files[0].path", "Debian package libaudit1=1:3.0.9-1 needs `path: <package>_<version>_<arch>.deb`", "libaudit1_3.0.9-1_amd64.deb"]),
        case("debian package and source", vec![package_a(&format!("name: a\nversion: \"1.0\"\nexternal-files:\n  - debian-source: audit=1:3.0.9-1\n    debian-package: libaudit1=1:3.0.9-1\n    path: libaudit1_3.0.9-1_amd64.deb\n    sha512: {sha}\n"))], vec!["external-files[0].debian-package", "both `debian-source` and `debian-package`"]),
        case("duplicate external file", vec![package_a(&format!("name: a\nversion: \"1.0\"\nexternal-files:\n  - url: https://x.example/a.tgz\n    sha512: {sha}\n  - url: https://y.example/a.tgz\n    sha512: {sha}\n"))], vec!["external-files[1].path", "two external files are both named `a.tgz`"]),
        case("duplicate package", vec![
            set("kits/other/kit.yaml", format!("{KIT_SCHEMA}name: other\n")),
            set("kits/other/packages/a/package.yaml", format!("{PKG_SCHEMA}name: a\nversion: \"1.0\"\n")),
            set("kits/other/packages/a/a.spec", "Name: a\nVersion: 1.0\n"),
        ], vec!["kits/other/packages/a/package.yaml:2:1: name:", "package `a` is defined twice: also in kits/k/packages/a/package.yaml"]),
        case("dependency cycle", vec![package_a(&format!("name: a\nversion: \"1.0\"\nbuild-dependencies: [b]\nexternal-files:\n  - url: https://example.com/a.tgz\n    sha512: {sha}\n"))], vec!["kits/k/packages/a/package.yaml:4:", "build dependency cycle: a -> b -> a"]),
        case("missing dependency", vec![set("kits/k/packages/b/package.yaml", format!("{PKG_SCHEMA}name: b\nversion: \"2.0\"\nbuild-dependencies: [a, zlib]\n"))], vec!["kits/k/packages/b/package.yaml:4:25: build-dependencies:", "`zlib` is not a package of any kit (b -> zlib)"]),
        case("self dependency", vec![set("kits/k/packages/b/package.yaml", format!("{PKG_SCHEMA}name: b\nversion: \"2.0\"\nbuild-dependencies: [b]\n"))], vec!["build-dependencies[0]", "package `b` depends on itself"]),
        case("package name mismatch", vec![package_a("name: aa\nversion: \"1.0\"\n")], vec!["kits/k/packages/a/package.yaml:2:1: name:", "package `aa` lives in directory `a`"]),
        case("spec name mismatch", vec![set("kits/k/packages/a/a.spec", "Name: other\nVersion: 1.0\n")], vec!["kits/k/packages/a/package.yaml:2:1: name:", "spec `a.spec` says `Name: other`"]),
        case("spec version mismatch", vec![set("kits/k/packages/a/a.spec", "Name: a\nVersion: 9.9\n")], vec!["version:", "says `Version: 9.9` but package.yaml says `1.0`"]),
        case("spec release mismatch", vec![set("kits/k/packages/a/a.spec", "Name: a\nVersion: 1.0\nRelease: 3%{?dist}\n")], vec!["release", "says `Release: 3%{?dist}` but package.yaml says release 1"]),
        case("duplicate build dependency", vec![set("kits/k/packages/b/package.yaml", format!("{PKG_SCHEMA}name: b\nversion: \"2.0\"\nbuild-dependencies: [a, a]\n"))], vec!["build-dependencies[1]", "`a` is listed twice in build-dependencies"]),
        case("bad rpm version", vec![package_a("name: a\nversion: \"1.0-2\"\n")], vec!["package.yaml:3:1: version:", "`1.0-2` is not an RPM version"]),
        case("package wrong type", vec![package_a("name: a\nversion: \"1.0\"\nrelease: first\n")], vec!["package.yaml:4:10: release:", "invalid type: string \"first\""]),
        case("package unknown key", vec![package_a("name: a\nversion: \"1.0\"\nsources: []\n")], vec!["package.yaml:4:1", "unknown field `sources`"]),
        case("kit without manifest", vec![("kits/k/kit.yaml", None)], vec!["kits/k: the kit directory has no kit.yaml"]),
        case("kit name mismatch", vec![set("kits/k/kit.yaml", format!("{KIT_SCHEMA}name: kk\n"))], vec!["kits/k/kit.yaml:2:1: name:", "kit `kk` lives in directory `k`"]),
        case("missing source group", vec![package_a("name: a\nversion: \"1.0\"\nsource-groups: [../outside]\n")], vec!["source-groups[0]", "source group `../outside` is not a directory in the project"]),
    ]
}

#[test]
fn every_broken_input_is_reported_clearly() {
    let cases = cases();
    assert!(cases.len() >= 25, "the table must hold at least 25 cases");
    let mut failures = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path());
        for (path, text) in &case.edits {
            match text {
                Some(text) => write(dir.path(), path, text),
                None => std::fs::remove_file(dir.path().join(path)).unwrap(),
            }
        }
        let rendered = match Project::load(dir.path()) {
            Ok(_) => "(loaded without problems)".to_string(),
            Err(ProjectError::Invalid(problems)) => problems.to_string(),
            Err(other) => other.to_string(),
        };
        let missing: Vec<_> = case
            .expect
            .iter()
            .filter(|e| !rendered.contains(*e))
            .collect();
        if !missing.is_empty() {
            failures.push(format!(
                "case `{}`: missing {missing:?} in:\n{rendered}\n",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn secondary_problems_are_not_reported() {
    // A package whose manifest does not parse is not also "missing" for the variants using it.
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    write(
        dir.path(),
        "kits/k/packages/a/package.yaml",
        &format!("{PKG_SCHEMA}name: a\nversion: \"1.0\"\nrelease: -1\n"),
    );
    let Err(ProjectError::Invalid(problems)) = Project::load(dir.path()) else {
        panic!("the broken manifest must be reported");
    };
    assert_eq!(problems.0.len(), 1, "{problems}");
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    write(
        dir.path(),
        "variants/metal-dev/variant.yaml",
        &format!("\u{feff}{VAR_SCHEMA}inherits: [base]\nincluded-packages: [b]\n"),
    );
    Project::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_fixture_itself_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let project = Project::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let variant = project.variant("metal-dev").unwrap();
    let names: Vec<_> = variant
        .included_packages
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(variant.inherits, ["base"]);
}

#[test]
fn a_directory_without_a_project_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let error = twoliter_project::discover(dir.path()).unwrap_err();
    assert!(error.to_string().contains("no Twoliter.toml in"), "{error}");
    assert!(matches!(
        Project::load(dir.path()),
        Err(ProjectError::NotFound { .. })
    ));
}
