//! Parameter templates: loading them from TOML, checking their placeholders and rendering them into
//! SSM parameter names and values that SSM will accept.

use crate::error::SsmError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use twoliter_project::Diagnostic;
use twoliter_project::{parse, Arch};

/// The placeholders a template's name and value may use.
pub const PLACEHOLDERS: [&str; 6] = [
    "variant",
    "arch",
    "image_id",
    "image_name",
    "image_version",
    "region",
];

/// SSM's limit on the number of levels of a parameter name (`/a/b/c` has three).
pub const MAX_LEVELS: usize = 15;

/// SSM's limit on the length of a parameter name, counting the part of its ARN that precedes the
/// name (`arn:aws:ssm:<region>:<account>:parameter`).
pub const MAX_NAME_WITH_ARN: usize = 1011;

/// SSM's limit on the size of a standard-tier parameter value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// One parameter template: name and value may use {variant} {arch} {image_id} {image_name}
/// {image_version} {region}.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The parameter's name, relative to the prefix given to [`render`].
    pub name: String,
    /// The parameter's value.
    pub value: String,
}

impl Template {
    /// A template from its name and value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The templates Bottlerocket publishes: the image id and the image version of each variant, arch
/// and version.
pub fn default_templates() -> Vec<Template> {
    vec![
        Template::new("{variant}/{arch}/{image_version}/image_id", "{image_id}"),
        Template::new(
            "{variant}/{arch}/{image_version}/image_version",
            "{image_version}",
        ),
    ]
}

/// The facts about one published image that templates are rendered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The variant, e.g. `aws-k8s-1.31`.
    pub variant: String,
    /// The architecture.
    pub arch: Arch,
    /// The AMI id in this region, e.g. `ami-0123456789abcdef0`.
    pub image_id: String,
    /// The AMI name.
    pub image_name: String,
    /// The image version, e.g. `1.2.3`.
    pub image_version: String,
    /// The AWS region, e.g. `us-west-2`.
    pub region: String,
}

impl Context {
    fn get(&self, placeholder: &str) -> Option<&str> {
        Some(match placeholder {
            "variant" => &self.variant,
            "arch" => self.arch.name(),
            "image_id" => &self.image_id,
            "image_name" => &self.image_name,
            "image_version" => &self.image_version,
            "region" => &self.region,
            _ => return None,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    parameter: Vec<Template>,
}

#[derive(Deserialize)]
struct SpannedFile {
    #[serde(default)]
    parameter: Vec<SpannedTemplate>,
}

#[derive(Deserialize)]
struct SpannedTemplate {
    name: toml::Spanned<String>,
    value: toml::Spanned<String>,
}

/// Reads templates from a TOML file of `[[parameter]]` tables with `name` and `value` keys.
///
/// Unknown keys, unknown or malformed `{placeholders}`, empty names and names used twice are
/// errors that name the file, the line and the key.
pub fn load_templates(path: &Path) -> Result<Vec<Template>, SsmError> {
    let wrap = |d: Diagnostic| SsmError::TemplateFile(Box::new(d));
    let text = parse::read_text(path, path).map_err(wrap)?;
    let file: File = parse::toml(&text, path).map_err(wrap)?;
    // A second pass keeps the positions of the values, for the checks serde cannot do.
    let spans: SpannedFile = toml::from_str(&text).map_err(|e| {
        wrap(Diagnostic::new(
            path,
            e.message().trim().replace('\n', "; "),
        ))
    })?;
    let hint = format!(
        "placeholders are {}",
        PLACEHOLDERS
            .iter()
            .map(|p| format!("{{{p}}}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, (template, spanned)) in file.parameter.iter().zip(&spans.parameter).enumerate() {
        let at = |span: std::ops::Range<usize>, key: &str, message: String| {
            let (line, column) = position(&text, span.start);
            Diagnostic::new(path, message)
                .at(line, column)
                .key(format!("parameter[{index}].{key}"))
        };
        if template.name.trim_matches('/').trim().is_empty() {
            let message = "the parameter name is empty".to_string();
            return Err(wrap(at(spanned.name.span(), "name", message)));
        }
        for (key, text, span) in [
            ("name", &template.name, spanned.name.span()),
            ("value", &template.value, spanned.value.span()),
        ] {
            if let Err(problem) = placeholders(text) {
                return Err(wrap(at(span, key, problem).hint(hint.clone())));
            }
        }
        if let Some(first) = seen.insert(&template.name, index) {
            let message = format!(
                "the parameter name `{}` is already used by parameter[{first}]",
                template.name
            );
            return Err(wrap(at(spanned.name.span(), "name", message)));
        }
    }
    Ok(file.parameter)
}

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The placeholders `text` uses, in order; an error message for an unknown or malformed one.
fn placeholders(text: &str) -> Result<Vec<&'static str>, String> {
    let mut used = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("`}}` without a matching `{{` in `{text}`"));
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("`{{` without a matching `}}` in `{text}`"));
        };
        let name = &after[..close];
        match PLACEHOLDERS.iter().find(|p| **p == name) {
            Some(known) => used.push(*known),
            None => return Err(format!("unknown placeholder `{{{name}}}` in `{text}`")),
        }
        rest = &after[close + 1..];
    }
    Ok(used)
}

/// Replaces the placeholders of `text`, which [`placeholders`] accepted.
fn substitute(text: &str, context: &Context) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').unwrap_or(after.len());
        out.push_str(context.get(&after[..close]).unwrap_or_default());
        rest = after.get(close + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// Joins `prefix` and `name` into one fully-qualified name: one leading `/`, no empty levels, no
/// trailing `/`.
pub fn normalise(prefix: &str, name: &str) -> String {
    let mut out = String::new();
    for level in prefix.split('/').chain(name.split('/')) {
        if !level.is_empty() {
            out.push('/');
            out.push_str(level);
        }
    }
    out
}

/// Checks a fully-qualified name against SSM's rules; the message says what is wrong.
pub fn check_name(name: &str, region: &str) -> Result<(), String> {
    let levels: Vec<&str> = name.trim_start_matches('/').split('/').collect();
    let first = levels
        .first()
        .copied()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if first == "aws" || first == "ssm" {
        return Err(format!(
            "names under `/{first}/` are reserved by AWS; choose another prefix"
        ));
    }
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err(
            "SSM refuses names whose first level begins with `aws` or `ssm` (in any case); \
             choose another prefix"
                .into(),
        );
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')))
    {
        return Err(format!(
            "contains `{bad}`; SSM names allow only ASCII letters, digits, `_`, `.`, `-` and `/`"
        ));
    }
    if levels.len() > MAX_LEVELS {
        return Err(format!(
            "has {} levels; SSM allows at most {MAX_LEVELS}",
            levels.len()
        ));
    }
    // The ARN before the name: arn:<partition>:ssm:<region>:<12-digit account>:parameter
    // (`aws-us-gov` is the longest partition name).
    let arn = "arn:aws-us-gov:ssm:".len() + region.len() + ":123456789012:parameter".len();
    let max = MAX_NAME_WITH_ARN.saturating_sub(arn);
    if name.len() > max {
        return Err(format!(
            "is {} characters long; SSM allows at most {max} in {region}",
            name.len()
        ));
    }
    Ok(())
}

/// Renders each template, in order, into a (name, value) pair, checking names and values.
pub(crate) fn render_each(
    templates: &[Template],
    prefix: &str,
    context: &Context,
) -> Result<Vec<(String, String)>, SsmError> {
    let mut out = Vec::with_capacity(templates.len());
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for template in templates {
        let problem = |problem: String| SsmError::Template {
            template: template.name.clone(),
            problem,
        };
        let in_name = placeholders(&template.name).map_err(&problem)?;
        placeholders(&template.value).map_err(&problem)?;
        for placeholder in in_name.iter().collect::<BTreeSet<_>>() {
            if context.get(placeholder).is_none_or(str::is_empty) {
                return Err(problem(format!(
                    "the name uses {{{placeholder}}}, which is empty for this image"
                )));
            }
        }
        let name = normalise(prefix, &substitute(&template.name, context));
        let value = substitute(&template.value, context);
        let bad_name = |problem: String| SsmError::Name {
            name: name.clone(),
            template: template.name.clone(),
            problem,
        };
        if name.is_empty() {
            return Err(bad_name("the name is empty".into()));
        }
        check_name(&name, &context.region).map_err(bad_name)?;
        if value.is_empty() {
            return Err(bad_name(format!(
                "the value `{}` renders empty; SSM refuses empty values",
                template.value
            )));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(bad_name(format!(
                "the value is {} bytes; SSM allows at most {MAX_VALUE_BYTES}",
                value.len()
            )));
        }
        if let Some(other) = seen.insert(name.clone(), &template.name) {
            return Err(bad_name(format!(
                "template `{other}` renders the same name"
            )));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// Renders the templates under `prefix` (e.g. "/myorg/os" →
/// "/myorg/os/aws-k8s-1.31/x86_64/1.2.3/image_id"); normalises slashes; refuses names under the
/// reserved "/aws/" prefix and names SSM would refuse (length, characters, >15 levels).
pub fn render(
    templates: &[Template],
    prefix: &str,
    context: &Context,
) -> Result<BTreeMap<String, String>, SsmError> {
    Ok(render_each(templates, prefix, context)?
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        Context {
            variant: "aws-k8s-1.31".into(),
            arch: Arch::X86_64,
            image_id: "ami-0123456789abcdef0".into(),
            image_name: "bottlerocket-aws-k8s-1.31-x86_64-v1.2.3".into(),
            image_version: "1.2.3".into(),
            region: "us-west-2".into(),
        }
    }

    #[test]
    fn renders_defaults_under_prefix() {
        let rendered = render(&default_templates(), "/myorg/os", &context()).unwrap();
        let expected: BTreeMap<String, String> = [
            (
                "/myorg/os/aws-k8s-1.31/x86_64/1.2.3/image_id",
                "ami-0123456789abcdef0",
            ),
            ("/myorg/os/aws-k8s-1.31/x86_64/1.2.3/image_version", "1.2.3"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(rendered, expected);
    }

    #[test]
    fn normalises_slashes() {
        assert_eq!(normalise("myorg//os/", "/a//b/"), "/myorg/os/a/b");
        assert_eq!(normalise("", "a"), "/a");
        assert_eq!(normalise("/", "/x/"), "/x");
        let templates = [Template::new("//{region}//{image_name}/", "{image_id}")];
        let rendered = render(&templates, "myorg/", &context()).unwrap();
        assert!(rendered.contains_key("/myorg/us-west-2/bottlerocket-aws-k8s-1.31-x86_64-v1.2.3"));
    }

    #[test]
    fn refuses_bad_placeholders() {
        for (name, value, needle) in [
            (
                "{variant}/{flavour}",
                "x",
                "unknown placeholder `{flavour}`",
            ),
            ("{variant}", "{image_id", "without a matching `}`"),
            ("{variant}}", "x", "`}` without"),
            ("{Variant}", "x", "unknown placeholder"),
        ] {
            let err = render(&[Template::new(name, value)], "/p", &context()).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn refuses_reserved_and_invalid_names() {
        let t = default_templates();
        for prefix in [
            "/aws/service/bottlerocket",
            "aws",
            "/AWS/x",
            "/ssm/x",
            "/awsome",
        ] {
            let err = render(&t, prefix, &context()).unwrap_err();
            assert!(matches!(err, SsmError::Name { .. }), "{prefix}: {err}");
        }
        let err = render(&t, "/my org", &context()).unwrap_err();
        assert!(err.to_string().contains("contains ` `"), "{err}");
        let deep = (0..14)
            .map(|i| format!("l{i}"))
            .collect::<Vec<_>>()
            .join("/");
        let err = render(&t, &deep, &context()).unwrap_err();
        assert!(err.to_string().contains("levels"), "{err}");
        let long = "x".repeat(1000);
        let err = render(&t, &long, &context()).unwrap_err();
        assert!(err.to_string().contains("characters long"), "{err}");
        // Fifteen levels are fine.
        let ok = (0..11)
            .map(|i| format!("l{i}"))
            .collect::<Vec<_>>()
            .join("/");
        render(&t, &ok, &context()).unwrap();
    }

    #[test]
    fn refuses_empty_context_and_duplicates() {
        let mut c = context();
        c.variant.clear();
        let err = render(&default_templates(), "/p", &c).unwrap_err();
        assert!(err.to_string().contains("{variant}"), "{err}");
        let templates = [Template::new("a", "x"), Template::new("/a/", "y")];
        let err = render(&templates, "/p", &context()).unwrap_err();
        assert!(err.to_string().contains("same name"), "{err}");
        let err = render(&[Template::new("a", "")], "/p", &context()).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    fn load(text: &str) -> Result<Vec<Template>, SsmError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssm.toml");
        std::fs::write(&path, text).unwrap();
        load_templates(&path)
    }

    #[test]
    fn loads_templates() {
        let templates = load(
            "[[parameter]]\nname = \"{variant}/{arch}/latest/image_id\"\nvalue = \"{image_id}\"\n\n\
             [[parameter]]\nname = \"{variant}/{arch}/{image_version}/name\"\nvalue = \"{image_name}\"\n",
        )
        .unwrap();
        assert_eq!(templates.len(), 2);
        assert_eq!(templates[1].value, "{image_name}");
        assert!(load("").unwrap().is_empty());
    }

    #[test]
    fn load_errors_name_file_line_and_key() {
        let text = "[[parameter]]\nname = \"a\"\nvalue = \"x\"\n\n[[parameter]]\nname = \"b\"\nvalue = \"{nope}\"\n";
        let err = load(text).unwrap_err().to_string();
        assert!(err.contains("ssm.toml:7:"), "{err}");
        assert!(err.contains("parameter[1].value"), "{err}");
        assert!(err.contains("unknown placeholder `{nope}`"), "{err}");

        let err = load("[[parameter]]\nname = \"a\"\nvalue = \"x\"\ncolour = \"red\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ssm.toml:4:"), "{err}");
        assert!(err.contains("colour"), "{err}");

        let err = load("[[parameter]]\nname = \"\"\nvalue = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(":2:") && err.contains("parameter[0].name"),
            "{err}"
        );
        assert!(err.contains("empty"), "{err}");

        let err = load("[[parameter]]\nname = \"a\"\nvalue = \"x\"\n[[parameter]]\nname = \"a\"\nvalue = \"y\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(":5:") && err.contains("parameter[1].name"),
            "{err}"
        );
        assert!(err.contains("already used by parameter[0]"), "{err}");

        let err = load("[[parameter]]\nname = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("value"), "{err}");

        let err = load("[params]\n").unwrap_err().to_string();
        assert!(err.contains("params"), "{err}");

        let missing = Path::new("/nonexistent/ssm.toml");
        let err = load_templates(missing).unwrap_err().to_string();
        assert!(
            err.contains("/nonexistent/ssm.toml") && err.contains("cannot read"),
            "{err}"
        );
    }
}
