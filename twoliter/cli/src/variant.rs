//! `twoliter variant list|show`.

use crate::args::VariantCommand;
use crate::Globals;
use anyhow::Result;
use serde_json::json;
use std::process::ExitCode;
use twoliter_project::{Arch, Variant};

/// Runs a `variant` subcommand.
pub fn run(globals: &Globals, command: VariantCommand) -> Result<ExitCode> {
    let project = globals.project()?;
    match command {
        VariantCommand::List { json } => {
            if json {
                let list: Vec<_> = project.variants.values().map(summary).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print_table(project.variants.values(), globals.arch);
            }
        }
        VariantCommand::Show { variant, json } => {
            let variant = project.variant(&variant)?;
            let supported = variant.supported_arches.contains(&globals.arch);
            if json {
                let mut value = serde_json::to_value(variant)?;
                value["arch"] = json!(globals.arch);
                value["arch-supported"] = json!(supported);
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print_variant(variant);
                if !supported {
                    tracing::warn!(
                        "{} does not support {} (supported-arches: {})",
                        variant.name,
                        globals.arch,
                        arches(&variant.supported_arches)
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn summary(variant: &Variant) -> serde_json::Value {
    // The name's parts as `variant show` has them (absent parts left out).
    let mut value = serde_json::to_value(&variant.parts).unwrap_or_default();
    value["name"] = json!(variant.name);
    value["supported-arches"] = json!(variant.supported_arches);
    value["image-format"] = json!(variant.image_format);
    value["image-layout"] = json!(variant.image_layout);
    value
}

fn arches(list: &[Arch]) -> String {
    list.iter().map(|a| a.name()).collect::<Vec<_>>().join(",")
}

fn print_table<'a>(variants: impl Iterator<Item = &'a Variant>, arch: Arch) {
    let rows: Vec<[String; 5]> = variants
        .map(|v| {
            let mark = if v.supported_arches.contains(&arch) {
                ""
            } else {
                " (not for this arch)"
            };
            [
                format!("{}{mark}", v.name),
                arches(&v.supported_arches),
                enum_name(&v.image_format),
                enum_name(&v.image_layout.partition_plan),
                format!(
                    "{}+{}",
                    v.image_layout.os_image_size_gib, v.image_layout.data_image_size_gib
                ),
            ]
        })
        .collect();
    let header = ["VARIANT", "ARCHES", "FORMAT", "PLAN", "OS+DATA GiB"];
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 5]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
}

/// The kebab-case name serde gives a unit enum value.
fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn print_variant(v: &Variant) {
    println!("variant:           {}", v.name);
    println!("manifest:          {}", v.manifest.display());
    println!(
        "parts:             platform={} runtime={} version={} flavor={}",
        v.parts.platform,
        v.parts.runtime,
        v.parts.version.as_deref().unwrap_or("-"),
        v.parts.flavor.as_deref().unwrap_or("-")
    );
    println!("inherits:          {}", v.inherits.join(", "));
    println!("kits:              {}", v.kits.join(", "));
    println!("supported-arches:  {}", arches(&v.supported_arches));
    println!("image-format:      {}", enum_name(&v.image_format));
    let l = &v.image_layout;
    println!(
        "image-layout:      os {} GiB, data {} GiB, {} plan, publish hint {} GiB",
        l.os_image_size_gib,
        l.data_image_size_gib,
        enum_name(&l.partition_plan),
        l.publish_image_size_hint_gib
    );
    println!("kernel-parameters: {}", v.kernel_parameters.join(" "));
    let features: Vec<String> = v
        .image_features
        .iter()
        .map(|(f, on)| format!("{}={on}", enum_name(f)))
        .collect();
    println!("image-features:    {}", features.join(" "));
    println!("included-packages:");
    for p in &v.included_packages {
        println!("  {:<32} from {}", p.name, p.from.display());
    }
}
