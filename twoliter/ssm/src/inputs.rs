//! What the SSM commands share: the build, its AMIs by region, the templates and the prefix.

use crate::aws::Parameters;
use crate::error::SsmError;
use crate::template::{default_templates, load_templates, render, Context, Template};
use std::collections::BTreeMap;
use std::path::Path;
use twoliter_artifacts::ArtifactName;

/// The prefix of every parameter name when neither the command line nor Infra.toml names one.
pub const DEFAULT_PREFIX: &str = "/twoliter";

/// One AMI in one region, as the parameters name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedImage {
    /// The AMI id.
    pub id: String,
    /// The AMI name.
    pub name: String,
}

/// The build, its AMIs and the templates to render for them.
#[derive(Debug, Clone)]
pub struct SsmInputs {
    /// The build whose AMIs are published.
    pub build: ArtifactName,
    /// Its AMIs, by region.
    pub images: BTreeMap<String, PublishedImage>,
    /// The parameter templates.
    pub templates: Vec<Template>,
    /// The prefix of every parameter name.
    pub prefix: String,
}

impl SsmInputs {
    /// Gathers the inputs: the templates of `template_file` (else the
    /// [`default_templates`]), and the prefix `prefix` (the command line), else
    /// `configured_prefix` (Infra.toml), else [`DEFAULT_PREFIX`].
    ///
    /// # Errors
    /// [`SsmError::NoTemplates`] when the template file defines none, and the errors of
    /// [`load_templates`].
    pub fn new(
        build: ArtifactName,
        images: BTreeMap<String, PublishedImage>,
        template_file: Option<&Path>,
        prefix: Option<&str>,
        configured_prefix: Option<&str>,
    ) -> Result<SsmInputs, SsmError> {
        let templates = match template_file {
            Some(path) => {
                let templates = load_templates(path)?;
                if templates.is_empty() {
                    return Err(SsmError::NoTemplates {
                        path: path.to_path_buf(),
                    });
                }
                templates
            }
            None => default_templates(),
        };
        let prefix = prefix.or(configured_prefix).unwrap_or(DEFAULT_PREFIX);
        Ok(SsmInputs {
            build,
            images,
            templates,
            prefix: prefix.to_string(),
        })
    }

    /// The build's image version, `<version>-<build>`.
    pub fn image_version(&self) -> String {
        self.build.release()
    }

    /// The template context of each region for the image version `image_version`.
    pub fn contexts(&self, image_version: &str) -> BTreeMap<String, Context> {
        self.images
            .iter()
            .map(|(region, image)| {
                let context = Context {
                    variant: self.build.variant.clone(),
                    arch: self.build.arch,
                    image_id: image.id.clone(),
                    image_name: image.name.clone(),
                    image_version: image_version.to_string(),
                    region: region.clone(),
                };
                (region.clone(), context)
            })
            .collect()
    }

    /// The parameters of the build's own image version in every region.
    ///
    /// # Errors
    /// The errors of [`render`] (a template that renders to a bad name).
    pub fn parameters(&self) -> Result<Parameters, SsmError> {
        let mut parameters = Parameters::new();
        for (region, context) in self.contexts(&self.image_version()) {
            parameters.insert(region, render(&self.templates, &self.prefix, &context)?);
        }
        Ok(parameters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(template_file: Option<&Path>, prefix: Option<&str>) -> Result<SsmInputs, SsmError> {
        let build = ArtifactName::from_parts("aws-dev", "aarch64", "1.2.3", "abc").unwrap();
        let images = ["us-east-1", "us-west-2"]
            .into_iter()
            .map(|region| {
                let image = PublishedImage {
                    id: format!("ami-{region}"),
                    name: "bottlerocket".into(),
                };
                (region.to_string(), image)
            })
            .collect();
        SsmInputs::new(build, images, template_file, prefix, Some("/infra"))
    }

    #[test]
    fn renders_the_default_templates_per_region() {
        let inputs = inputs(None, None).unwrap();
        assert_eq!(inputs.prefix, "/infra");
        assert_eq!(inputs.image_version(), "1.2.3-abc");
        let parameters = inputs.parameters().unwrap();
        assert_eq!(
            parameters["us-west-2"]["/infra/aws-dev/aarch64/1.2.3-abc/image_id"],
            "ami-us-west-2"
        );
        assert_eq!(
            parameters["us-east-1"]["/infra/aws-dev/aarch64/1.2.3-abc/image_version"],
            "1.2.3-abc"
        );
        let latest = inputs.contexts("latest");
        assert_eq!(latest["us-east-1"].image_version, "latest");
        assert_eq!(latest["us-east-1"].arch, twoliter_project::Arch::Aarch64);
    }

    #[test]
    fn the_prefix_and_templates_come_from_the_command_line_first() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("templates.toml");
        std::fs::write(&file, "").unwrap();
        let error = inputs(Some(&file), None).unwrap_err();
        assert!(
            error.to_string().contains("defines no [[parameter]]"),
            "{error}"
        );
        std::fs::write(
            &file,
            "[[parameter]]\nname = \"{variant}/id\"\nvalue = \"{image_id}\"\n",
        )
        .unwrap();
        let inputs = inputs(Some(&file), Some("/cli")).unwrap();
        let parameters = inputs.parameters().unwrap();
        assert_eq!(parameters["us-east-1"]["/cli/aws-dev/id"], "ami-us-east-1");
        let defaults = SsmInputs::new(inputs.build, BTreeMap::new(), None, None, None).unwrap();
        assert_eq!(defaults.prefix, DEFAULT_PREFIX);
    }
}
