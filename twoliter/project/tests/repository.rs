//! The project in this repository: it loads cleanly and holds the Bottlerocket variant list.

use std::path::Path;
use twoliter_project::{ImageFormat, PartitionPlan, Project};

fn repo() -> Project {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Project::load(&root).unwrap_or_else(|e| panic!("{e}"))
}

/// The variants of the Bottlerocket README this repository models, plus metal-dev.
fn expected_variants() -> Vec<String> {
    let mut names = vec!["metal-dev".to_string()];
    for minor in 24..=32 {
        names.push(format!("aws-k8s-1.{minor}"));
        names.push(format!("aws-k8s-1.{minor}-nvidia"));
    }
    for minor in 28..=32 {
        names.push(format!("vmware-k8s-1.{minor}"));
    }
    for major in 1..=2 {
        names.push(format!("aws-ecs-{major}"));
        names.push(format!("aws-ecs-{major}-nvidia"));
    }
    names.sort();
    names
}

#[test]
fn the_repository_project_holds_every_variant() {
    let project = repo();
    let names: Vec<String> = project.variants.keys().cloned().collect();
    assert_eq!(names, expected_variants());
}

#[test]
fn variant_differences_are_data() {
    let project = repo();
    let vmware = project.variant("vmware-k8s-1.31").unwrap();
    assert_eq!(vmware.image_format, ImageFormat::Vmdk);
    assert_eq!(vmware.image_layout.partition_plan, PartitionPlan::Unified);
    let nvidia = project.variant("aws-k8s-1.31-nvidia").unwrap();
    assert_eq!(nvidia.image_layout.os_image_size_gib, 4);
    let plain = project.variant("aws-k8s-1.31").unwrap();
    assert_eq!(plain.image_layout.os_image_size_gib, 2);
    let has =
        |v: &twoliter_project::Variant, p: &str| v.included_packages.iter().any(|i| i.name == p);
    assert!(has(plain, "kubernetes-1.31") && !has(plain, "ecs-agent"));
    let ecs = project.variant("aws-ecs-2").unwrap();
    assert!(has(ecs, "ecs-agent") && !has(ecs, "kubelet") && !has(ecs, "kubernetes-1.31"));
    let families =
        |v: &twoliter_project::Variant, f: &str| v.settings_families.iter().any(|x| x == f);
    assert!(families(plain, "kubernetes") && families(plain, "aws") && !families(plain, "ecs"));
    assert!(families(ecs, "ecs") && !families(ecs, "kubernetes"));
    let metal = project.variant("metal-dev").unwrap();
    assert!(families(metal, "motd") && !families(metal, "kubernetes") && !families(metal, "aws"));
    assert_eq!(metal.supported_arches, [twoliter_project::Arch::X86_64]);
    assert_eq!(metal.image_layout.partition_plan, PartitionPlan::Split);
}
