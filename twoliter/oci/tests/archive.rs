//! Round trips, reproducibility, corruption and path-traversal checks, and `skopeo inspect` as
//! an independent reader.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;
use twoliter_oci::{
    read_archive, write_archive, Architecture, Error, ImageSpec, LayerSpec, MEDIA_TYPE_LAYER_TAR,
};

const EPOCH: u64 = 1_700_000_000;

/// Sample kit: two "RPMs" (one larger than a tar block, one with a long name) and repodata.
fn sample(dir: &Path) -> ImageSpec {
    let rpms = dir.join("rpms");
    let repodata = rpms.join("repodata");
    fs::create_dir_all(&repodata).unwrap();
    let long_name = format!("bottlerocket-{}-1.0.0-1.x86_64.rpm", "a".repeat(120));
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(rpms.join("bottlerocket-core-1.0.0-1.x86_64.rpm"), &big).unwrap();
    fs::write(rpms.join(&long_name), b"small rpm").unwrap();
    fs::write(repodata.join("repomd.xml"), b"<repomd/>").unwrap();
    fs::write(repodata.join("primary.xml.gz"), b"primary").unwrap();
    let mut metadata = BTreeMap::new();
    metadata.insert(
        "dev.bottlerocket.kit.name".to_string(),
        "core-kit".to_string(),
    );
    metadata.insert(
        "dev.bottlerocket.kit.version".to_string(),
        "1.2.3".to_string(),
    );
    ImageSpec {
        ref_name: "1.2.3".to_string(),
        architecture: "x86_64".parse().unwrap(),
        layers: vec![
            LayerSpec::new().with_file(
                rpms.join("bottlerocket-core-1.0.0-1.x86_64.rpm"),
                "bottlerocket-core-1.0.0-1.x86_64.rpm",
            ),
            LayerSpec::new().with_file(rpms.join(&long_name), format!("packages/{long_name}")),
            LayerSpec::from_dir(&repodata, "repodata").unwrap(),
        ],
        metadata,
        epoch: EPOCH,
    }
}

/// Every regular file under `root`, relative path → content.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn round_trip() {
    let dir = TempDir::new().unwrap();
    let spec = sample(dir.path());
    let out = dir.path().join("kit.tar");
    let summary = write_archive(&out, &spec).unwrap();
    assert_eq!(summary.layers.len(), 3);
    assert_eq!(summary.size, fs::metadata(&out).unwrap().len());

    let archive = read_archive(&out).unwrap();
    assert_eq!(archive.ref_name(), Some("1.2.3"));
    assert_eq!(archive.architecture(), "amd64");
    assert_eq!(archive.labels(), &spec.metadata);
    assert_eq!(archive.manifest().annotations, spec.metadata);
    assert_eq!(archive.manifest().layers, summary.layers);
    assert_eq!(archive.manifest_descriptor(), &summary.manifest);
    assert_eq!(
        archive.config().created.as_deref(),
        Some("2023-11-14T22:13:20Z")
    );
    assert!(archive
        .manifest()
        .layers
        .iter()
        .all(|l| l.media_type == MEDIA_TYPE_LAYER_TAR));

    let dest = dir.path().join("out");
    archive.extract_layers(&dest).unwrap();
    let mut expected = BTreeMap::new();
    for layer in &spec.layers {
        for file in &layer.files {
            expected.insert(PathBuf::from(&file.dest), fs::read(&file.source).unwrap());
        }
    }
    assert_eq!(tree(&dest), expected);
}

#[test]
fn layer_entries_are_normalized() {
    let dir = TempDir::new().unwrap();
    let spec = sample(dir.path());
    let out = dir.path().join("kit.tar");
    let summary = write_archive(&out, &spec).unwrap();
    // Pull the repodata layer out of the archive with the tar crate and look at its headers.
    let mut outer = tar::Archive::new(fs::File::open(&out).unwrap());
    let want = format!(
        "blobs/sha256/{}",
        summary.layers[2].digest.trim_start_matches("sha256:")
    );
    let mut layer = Vec::new();
    for entry in outer.entries().unwrap() {
        let mut entry = entry.unwrap();
        assert_eq!(entry.header().mtime().unwrap(), EPOCH);
        if entry.path().unwrap() == Path::new(&want) {
            std::io::Read::read_to_end(&mut entry, &mut layer).unwrap();
        }
    }
    let mut names = Vec::new();
    for entry in tar::Archive::new(layer.as_slice()).entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.mtime().unwrap(), EPOCH);
        assert_eq!(h.username().unwrap(), Some(""));
        assert_eq!(h.groupname().unwrap(), Some(""));
        let mode = h.mode().unwrap();
        if h.entry_type().is_dir() {
            assert_eq!(mode, 0o755);
        } else {
            assert_eq!(mode, 0o644);
        }
        names.push(entry.path().unwrap().to_string_lossy().into_owned());
    }
    assert_eq!(
        names,
        ["repodata", "repodata/primary.xml.gz", "repodata/repomd.xml"]
    );
}

#[test]
fn reproducible() {
    let dir = TempDir::new().unwrap();
    let spec = sample(dir.path());
    let a = dir.path().join("a.tar");
    let b = dir.path().join("sub/b.tar");
    fs::create_dir_all(b.parent().unwrap()).unwrap();
    let sa = write_archive(&a, &spec).unwrap();
    // Same inputs listed in another order give the same archive too.
    let mut shuffled = spec.clone();
    shuffled.layers[2].files.reverse();
    let sb = write_archive(&b, &shuffled).unwrap();
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert_eq!(sa.archive_digest, sb.archive_digest);
    // Writing again over an existing archive replaces it with the same bytes.
    write_archive(&a, &spec).unwrap();
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    // A different epoch changes it.
    let mut later = spec.clone();
    later.epoch += 1;
    let c = dir.path().join("c.tar");
    let sc = write_archive(&c, &later).unwrap();
    assert_ne!(sa.archive_digest, sc.archive_digest);
    // No temporary files are left behind.
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Offset of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

#[test]
fn corrupted_blob_is_detected() {
    let dir = TempDir::new().unwrap();
    let spec = sample(dir.path());
    let out = dir.path().join("kit.tar");
    let summary = write_archive(&out, &spec).unwrap();
    let mut bytes = fs::read(&out).unwrap();
    let at = find(&bytes, b"<repomd/>");
    bytes[at + 1] = b'R';
    fs::write(&out, &bytes).unwrap();
    let err = read_archive(&out).unwrap_err();
    match &err {
        Error::DigestMismatch { blob, .. } => assert_eq!(blob, &summary.layers[2].digest),
        other => panic!("expected a digest mismatch, got {other}"),
    }
    assert!(err.to_string().contains(&summary.layers[2].digest), "{err}");
}

#[test]
fn corrupted_config_is_detected() {
    let dir = TempDir::new().unwrap();
    let spec = sample(dir.path());
    let out = dir.path().join("kit.tar");
    let summary = write_archive(&out, &spec).unwrap();
    let mut bytes = fs::read(&out).unwrap();
    let at = find(&bytes, b"\"os\":\"linux\",\"config\"");
    bytes[at + 6] = b'L';
    fs::write(&out, &bytes).unwrap();
    let err = read_archive(&out).unwrap_err();
    assert!(err.to_string().contains(&summary.config.digest), "{err}");
}

/// Builds an OCI archive by hand around one layer tar, to feed the reader hostile layers.
fn hand_made_archive(path: &Path, layer: &[u8]) {
    use sha2::{Digest, Sha256};
    let hex = |b: &[u8]| {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    };
    let layer_hex = hex(layer);
    let config = format!(
        r#"{{"architecture":"arm64","os":"linux","rootfs":{{"type":"layers","diff_ids":["sha256:{layer_hex}"]}}}}"#
    );
    let config_hex = hex(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config_hex}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{layer_hex}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let manifest_hex = hex(manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{manifest_hex}","size":{}}}]}}"#,
        manifest.len()
    );
    let mut b = tar::Builder::new(fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", index.as_bytes());
    add(&format!("blobs/sha256/{layer_hex}"), layer);
    add(&format!("blobs/sha256/{config_hex}"), config.as_bytes());
    add(&format!("blobs/sha256/{manifest_hex}"), manifest.as_bytes());
    b.into_inner().unwrap().flush().unwrap();
}

/// A layer tar with one file whose raw header name is `name` (bypassing the tar crate's checks).
fn layer_with_raw_name(name: &str) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut layer = h.as_bytes().to_vec();
    layer.extend_from_slice(b"evil");
    layer.resize(512 * 2, 0);
    layer.resize(512 * 4, 0);
    layer
}

#[test]
fn path_traversal_is_refused() {
    for name in ["../escape", "a/../../escape", "/abs/escape"] {
        let dir = TempDir::new().unwrap();
        let archive_path = dir.path().join("evil.tar");
        hand_made_archive(&archive_path, &layer_with_raw_name(name));
        let archive = read_archive(&archive_path).unwrap();
        assert_eq!(archive.architecture(), "arm64");
        let dest = dir.path().join("dest");
        let err = archive.extract_layers(&dest).unwrap_err();
        assert!(
            matches!(&err, Error::UnsafeEntry { entry, .. } if entry == name),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(name), "{err}");
        assert!(!dir.path().join("escape").exists());
        assert!(!Path::new("/abs/escape").exists());
    }
}

#[test]
fn symlinks_in_layers_are_refused() {
    let dir = TempDir::new().unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    let mut b = tar::Builder::new(Vec::new());
    b.append_link(&mut h, "link", "/etc/passwd").unwrap();
    let layer = b.into_inner().unwrap();
    let archive_path = dir.path().join("link.tar");
    hand_made_archive(&archive_path, &layer);
    let err = read_archive(&archive_path)
        .unwrap()
        .extract_layers(&dir.path().join("dest"))
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedEntry { .. }), "{err}");
}

#[test]
fn bad_specs_are_refused() {
    let dir = TempDir::new().unwrap();
    let spec = sample(dir.path());
    let out = dir.path().join("kit.tar");
    let with = |f: &dyn Fn(&mut ImageSpec)| {
        let mut s = spec.clone();
        f(&mut s);
        write_archive(&out, &s).unwrap_err()
    };
    for bad in ["", "-v1", "a//b", "v1..2", "v1 2"] {
        let err = with(&|s| s.ref_name = bad.to_string());
        assert!(matches!(err, Error::InvalidSpec(_)), "{bad:?}: {err}");
    }
    for bad in ["/abs", "a/../b", "a//b", "dir/", "./a", ".wh.x"] {
        let err = with(&|s| s.layers[0].files[0].dest = bad.to_string());
        assert!(
            matches!(err, Error::InvalidLayerPath { .. }),
            "{bad:?}: {err}"
        );
    }
    let err = with(&|s| {
        let f = s.layers[2].files[0].clone();
        s.layers[2].files.push(f);
    });
    assert!(matches!(err, Error::InvalidLayerPath { .. }), "{err}");
    let err = with(&|s| s.layers[2].files[0].dest = "repodata".to_string());
    assert!(matches!(err, Error::InvalidLayerPath { .. }), "{err}");
    let err = with(&|s| s.epoch = u64::MAX);
    assert!(matches!(err, Error::InvalidSpec(_)), "{err}");
    let err = with(&|s| s.layers[0].files[0].source = dir.path().join("missing.rpm"));
    assert!(err.to_string().contains("missing.rpm"), "{err}");
    let err = with(&|s| s.layers[0].files[0].source = dir.path().to_path_buf());
    assert!(matches!(err, Error::NotARegularFile { .. }), "{err}");
    assert!(!out.exists());
    assert!("ppc64le".parse::<Architecture>().is_err());
    assert_eq!(
        "aarch64".parse::<Architecture>().unwrap(),
        Architecture::Arm64
    );
}

#[test]
fn skopeo_inspect() {
    let skopeo = Path::new("/usr/bin/skopeo");
    if !skopeo.exists() {
        println!("NOTICE: /usr/bin/skopeo is not installed; skipping skopeo_inspect");
        return;
    }
    let dir = TempDir::new().unwrap();
    let mut spec = sample(dir.path());
    spec.architecture = Architecture::Arm64;
    let out = dir.path().join("kit.tar");
    let summary = write_archive(&out, &spec).unwrap();

    for reference in [
        format!("oci-archive:{}", out.display()),
        format!("oci-archive:{}:1.2.3", out.display()),
    ] {
        let output = Command::new(skopeo)
            .args(["--override-os", "linux", "inspect", &reference])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "skopeo inspect {reference} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["Architecture"], "arm64", "{json}");
        assert_eq!(json["Os"], "linux", "{json}");
        assert_eq!(json["Digest"], summary.manifest.digest.as_str(), "{json}");
        let labels: BTreeMap<String, String> =
            serde_json::from_value(json["Labels"].clone()).unwrap();
        assert_eq!(labels, spec.metadata);
        let layers = json["Layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "{json}");
        for (got, want) in layers.iter().zip(&summary.layers) {
            assert_eq!(got, want.digest.as_str());
        }
    }

    // skopeo copy unpacks it to a directory with every blob intact.
    let copy = dir.path().join("copy");
    let output = Command::new(skopeo)
        .args(["--override-arch", "arm64", "copy"])
        .arg(format!("oci-archive:{}", out.display()))
        .arg(format!("dir:{}", copy.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo copy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for layer in &summary.layers {
        let blob = copy.join(layer.digest.trim_start_matches("sha256:"));
        assert_eq!(fs::metadata(&blob).unwrap().len(), layer.size);
    }
}
