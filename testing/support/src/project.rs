//! Small twoliter projects written for a test: `Twoliter.toml`, kits with packages (manifest and
//! spec), variants, and the schemas their first lines point to.

use std::path::Path;

/// Writes each `(relative path, text)` under `dir`, creating directories.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a relative path")).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// A project of release `release` under `dir`: each `(kit, package, more package.yaml lines)`
/// becomes `kits/<kit>/packages/<package>/` with a manifest and a spec of version 1.0.0, each
/// `(variant, variant.yaml body)` a variant, and the schemas are generated.
pub fn write_project(
    dir: &Path,
    release: &str,
    packages: &[(&str, &str, &str)],
    variants: &[(&str, &str)],
) {
    let mut files = vec![(
        "Twoliter.toml".to_string(),
        format!("schema-version = 1\nrelease-version = \"{release}\"\n"),
    )];
    for (kit, name, more) in packages {
        files.push((
            format!("kits/{kit}/kit.yaml"),
            format!("# yaml-language-server: $schema=../../schemas/kit.schema.json\nname: {kit}\n"),
        ));
        files.push((
            format!("kits/{kit}/packages/{name}/package.yaml"),
            format!("# yaml-language-server: $schema=../../../../schemas/package.schema.json\nname: {name}\nversion: 1.0.0\nrelease: 1\n{more}"),
        ));
        files.push((
            format!("kits/{kit}/packages/{name}/{name}.spec"),
            format!("Name: {name}\nVersion: 1.0.0\n"),
        ));
    }
    for (variant, body) in variants {
        files.push((
            format!("variants/{variant}/variant.yaml"),
            format!("# yaml-language-server: $schema=../../schemas/variant.schema.json\n{body}"),
        ));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    write_files(dir, &files);
    twoliter_project::schema::write_all(&dir.join("schemas")).unwrap();
}
