//! How variants combine their shared bases and defaults.

use std::path::Path;
use twoliter_project::{ImageFeature, ImageFormat, PartitionPlan, Project};

const VAR: &str = "# yaml-language-server: $schema=../../schemas/variant.schema.json\n";

fn project(files: &[(&str, &str)]) -> Project {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut all: Vec<(String, String)> = vec![
        (
            "Twoliter.toml".into(),
            "schema-version = 1\nrelease-version = \"1.2.3\"\n".into(),
        ),
        (
            "kits/k/kit.yaml".into(),
            "# yaml-language-server: $schema=../../schemas/kit.schema.json\nname: k\n".into(),
        ),
    ];
    for p in ["p1", "p2", "p3", "p4"] {
        all.push((
            format!("kits/k/packages/{p}/package.yaml"),
            format!("# yaml-language-server: $schema=../../../../schemas/package.schema.json\nname: {p}\nversion: \"1\"\n"),
        ));
        all.push((
            format!("kits/k/packages/{p}/{p}.spec"),
            format!("Name: {p}\nVersion: 1\n"),
        ));
    }
    for (path, text) in files {
        all.push((path.to_string(), format!("{VAR}{text}")));
    }
    for (path, text) in all {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    twoliter_project::schema::write_all(&root.join("schemas")).unwrap();
    let project = Project::load(root).unwrap_or_else(|e| panic!("{e}"));
    drop(dir);
    project
}

#[test]
fn defaults_fill_what_no_manifest_sets() {
    let p = project(&[(
        "variants/metal-dev/variant.yaml",
        "kits: [k]\nincluded-packages: [p1]\n",
    )]);
    let v = p.variant("metal-dev").unwrap();
    assert_eq!(v.image_format, ImageFormat::Raw);
    assert_eq!(v.image_layout.os_image_size_gib, 2);
    assert_eq!(v.image_layout.data_image_size_gib, 1);
    assert_eq!(v.image_layout.partition_plan, PartitionPlan::Split);
    assert_eq!(v.image_layout.publish_image_size_hint_gib, 22);
    assert!(v.feature(ImageFeature::InPlaceUpdates));
    assert!(v.feature(ImageFeature::HostContainers));
    assert!(!v.feature(ImageFeature::ErofsRootPartition));
    assert!(!v.feature(ImageFeature::Fips));
    assert_eq!(v.supported_arches.len(), 2);
}

#[test]
fn lists_accumulate_and_scalars_override_in_order() {
    let p = project(&[
        ("variants/shared/a.yaml", "kits: [k]\nincluded-packages: [p1, p2]\nimage-format: qcow2\nkernel-parameters: [a=1]\nimage-layout: {os-image-size-gib: 3, data-image-size-gib: 5}\nimage-features: {fips: true}\n"),
        ("variants/shared/b.yaml", "inherits: [a]\nincluded-packages: [p3, p1]\nimage-layout: {os-image-size-gib: 4}\nkernel-parameters: [b=2]\n"),
        ("variants/shared/c.yaml", "inherits: [a]\nimage-format: vmdk\nimage-features: {in-place-updates: false}\n"),
        ("variants/aws-k8s-1.31/variant.yaml", "inherits: [b, c]\nincluded-packages: [p4]\nsupported-arches: [aarch64]\n"),
    ]);
    let v = p.variant("aws-k8s-1.31").unwrap();
    // `a` is applied once although both b and c inherit it, so c's override of a's format stays.
    assert_eq!(v.inherits, ["a", "b", "c"]);
    let names: Vec<_> = v
        .included_packages
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["p1", "p2", "p3", "p4"]);
    assert_eq!(
        v.included_packages[2].from,
        Path::new("variants/shared/b.yaml")
    );
    assert_eq!(v.image_format, ImageFormat::Vmdk);
    assert_eq!(v.image_layout.os_image_size_gib, 4);
    assert_eq!(v.image_layout.data_image_size_gib, 5);
    assert_eq!(v.kernel_parameters, ["a=1", "b=2"]);
    assert!(v.feature(ImageFeature::Fips));
    assert!(!v.feature(ImageFeature::InPlaceUpdates));
    assert_eq!(v.supported_arches, [twoliter_project::Arch::Aarch64]);
    assert_eq!(v.parts.version.as_deref(), Some("1.31"));
}

#[test]
fn ami_settings_override_key_by_key() {
    let p = project(&[
        ("variants/shared/a.yaml", "kits: [k]\nincluded-packages: [p1]\nami: {boot-mode: uefi-preferred, tpm: true, volume-type: gp2, tags: {team: os}}\n"),
        ("variants/aws-dev/variant.yaml", "inherits: [a]\nami: {tpm: false, tags: {tier: dev}}\n"),
        ("variants/metal-dev/variant.yaml", "kits: [k]\nincluded-packages: [p1]\n"),
    ]);
    let v = p.variant("aws-dev").unwrap();
    assert_eq!(
        v.ami.boot_mode,
        Some(twoliter_project::BootMode::UefiPreferred)
    );
    assert!(!v.ami.tpm, "the variant turns off what its base turned on");
    assert!(v.ami.imds_v2_only);
    assert_eq!(v.ami.volume_type, "gp2");
    assert_eq!(
        v.ami.tags.iter().collect::<Vec<_>>(),
        [
            (&"team".to_string(), &"os".to_string()),
            (&"tier".to_string(), &"dev".to_string())
        ]
    );
    let plain = p.variant("metal-dev").unwrap();
    assert_eq!(plain.ami.boot_mode, None);
    assert!(!plain.ami.tpm);
    assert_eq!(plain.ami.volume_type, "gp3");
}
