//! `twoliter check`: load and validate the whole project.

use crate::Globals;
use anyhow::Result;
use serde_json::json;
use std::process::ExitCode;
use twoliter_project::ProjectError;

/// Loads the project and prints a summary, or every problem found.
pub fn run(globals: &Globals, json: bool) -> Result<ExitCode> {
    let root = globals.root()?;
    match twoliter_project::Project::load(&root) {
        Ok(project) => {
            let variants_for_arch = project
                .variants
                .values()
                .filter(|v| v.supported_arches.contains(&globals.arch))
                .count();
            if json {
                let report = json!({
                    "ok": true,
                    "root": project.root,
                    "release-version": project.config.release_version.to_string(),
                    "kits": project.kits.len(),
                    "packages": project.packages.len(),
                    "variants": project.variants.len(),
                    "arch": globals.arch,
                    "variants-for-arch": variants_for_arch,
                    "problems": [],
                });
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{}: release {}, {} kit(s), {} package(s), {} variant(s) ({} for {}): no problems",
                    project.root.display(),
                    project.config.release_version,
                    project.kits.len(),
                    project.packages.len(),
                    project.variants.len(),
                    variants_for_arch,
                    globals.arch,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ProjectError::Invalid(problems)) => {
            if json {
                let report = json!({ "ok": false, "root": root, "problems": problems });
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                eprintln!("error: {problems}");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(other) => Err(other.into()),
    }
}
