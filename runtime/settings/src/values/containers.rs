//! Container values: image references, bootstrap modes, ECS agent values.

use super::net::check_host_port;
use super::{check_chars, check_length, show};

/// Checks one `/`-separated repository path component: lowercase alphanumeric runs joined by
/// `.`, `_`, `__` or one or more `-`.
fn check_path_component(component: &str) -> Result<(), String> {
    if component.is_empty() {
        return Err("it has an empty path component".to_owned());
    }
    check_chars(component, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
    })
    .map_err(|problem| format!("repository path {}: {problem}", show(component)))?;
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !component.starts_with(alphanumeric) || !component.ends_with(alphanumeric) {
        return Err(format!(
            "repository path {} does not start and end with [a-z0-9]",
            show(component)
        ));
    }
    for separator in component.split(alphanumeric).filter(|s| !s.is_empty()) {
        let valid = matches!(separator, "." | "_" | "__") || separator.chars().all(|c| c == '-');
        if !valid {
            return Err(format!(
                "repository path {} has the separator {}",
                show(component),
                show(separator)
            ));
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() || tag.len() > 128 {
        return Err(format!("tag {} is not 1-128 characters long", show(tag)));
    }
    check_chars(tag, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
    })
    .map_err(|problem| format!("tag {}: {problem}", show(tag)))?;
    if tag.starts_with(['.', '-']) {
        return Err(format!("tag {} starts with '.' or '-'", show(tag)));
    }
    Ok(())
}

fn check_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return Err(format!("digest {} is not `algorithm:hex`", show(digest)));
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-')
        });
    let hex_ok = encoded.len() >= 32 && encoded.chars().all(|c| c.is_ascii_hexdigit());
    let length_ok = algorithm != "sha256" || encoded.len() == 64;
    if algorithm_ok && hex_ok && length_ok {
        Ok(())
    } else {
        Err(format!(
            "digest {} is not `algorithm:hex` (e.g. sha256 and 64 hex digits)",
            show(digest)
        ))
    }
}

fn check_image_reference(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".to_owned());
    }
    if let Some(c) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("it contains {c:?}"));
    }
    let (name_and_tag, digest) = match value.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (value, None),
    };
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    let last_part = name_and_tag.rfind('/').map_or(0, |slash| slash + 1);
    let (name, tag) = match name_and_tag[last_part..].find(':') {
        Some(colon) => (
            &name_and_tag[..last_part + colon],
            Some(&name_and_tag[last_part + colon + 1..]),
        ),
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if name.len() > 255 {
        return Err(format!(
            "the name is {} characters long, more than 255",
            name.len()
        ));
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':'])
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase())
        {
            check_host_port(first, false)
                .map_err(|problem| format!("registry {}: {problem}", show(first)))?;
            components.remove(0);
        }
    }
    components.into_iter().try_for_each(check_path_component)
}

fn check_ecs_cluster(value: &str) -> Result<(), String> {
    if value.starts_with("arn:") {
        check_length(value, 2048)?;
        return match value.chars().find(|c| c.is_whitespace() || c.is_control()) {
            Some(c) => Err(format!("the ARN contains {c:?}")),
            None => Ok(()),
        };
    }
    check_length(value, 255)?;
    check_chars(value, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
    })
}

fn check_ecs_attribute_key(value: &str) -> Result<(), String> {
    check_length(value, 128)?;
    check_chars(value, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | ':' | '-')
    })
}

fn check_ecs_attribute_value(value: &str) -> Result<(), String> {
    check_length(value, 128)?;
    check_chars(value, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | ':' | '-' | ' ')
    })
}

fn check_logging_driver(value: &str) -> Result<(), String> {
    check_length(value, 64)?;
    check_chars(value, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_')
    })
}

validated_string! {
    /// A container image reference, `[registry[:port]/]path[:tag][@digest]`.
    pub struct ImageReference {
        thing: "image reference",
        expected: "`[registry[:port]/]repository[:tag][@algorithm:digest]` with a lowercase \
                   repository path (e.g. `public.ecr.aws/bottlerocket/bottlerocket-admin:v0.11.0`)",
        check: check_image_reference,
    }
}

validated_string! {
    /// An ECS cluster name or ARN.
    pub struct EcsClusterName {
        thing: "ECS cluster",
        expected: "a cluster name of 1-255 characters of `[A-Za-z0-9_-]`, or a cluster ARN \
                   (`arn:aws:ecs:...`)",
        check: check_ecs_cluster,
    }
}

validated_string! {
    /// The name of an ECS container instance attribute.
    pub struct EcsAttributeKey {
        thing: "ECS attribute name",
        expected: "1-128 characters of `[A-Za-z0-9_./@:-]`",
        pattern: "^[A-Za-z0-9_./@:-]{1,128}$",
        check: check_ecs_attribute_key,
    }
}

validated_string! {
    /// The value of an ECS container instance attribute.
    pub struct EcsAttributeValue {
        thing: "ECS attribute value",
        expected: "1-128 characters of `[A-Za-z0-9_./@:-]` or spaces",
        pattern: "^[A-Za-z0-9_./@: -]{1,128}$",
        check: check_ecs_attribute_value,
    }
}

validated_string! {
    /// A Docker logging driver name such as `json-file` or `awslogs`.
    pub struct LoggingDriver {
        thing: "logging driver",
        expected: "1-64 characters of `[a-z0-9_-]` (e.g. `json-file`, `awslogs`, `none`)",
        pattern: "^[a-z0-9_-]{1,64}$",
        check: check_logging_driver,
    }
}

string_enum! {
    /// When a bootstrap container runs.
    pub enum BootstrapContainerMode("bootstrap container mode") {
        /// Never.
        Off => "off",
        /// On the next boot only, then the mode becomes `off`.
        Once => "once",
        /// On every boot.
        Always => "always",
    }
}

string_enum! {
    /// The ECS agent log level.
    pub enum EcsLogLevel("ECS log level") {
        /// Debug.
        Debug => "debug",
        /// Info.
        Info => "info",
        /// Warn.
        Warn => "warn",
        /// Error.
        Error => "error",
        /// Critical.
        Crit => "crit",
    }
}

string_enum! {
    /// How the ECS agent pulls images.
    pub enum EcsImagePullBehavior("image pull behavior") {
        /// Pull, falling back to the cached image.
        Default => "default",
        /// Always pull.
        Always => "always",
        /// Pull only if no earlier task on this instance pulled it.
        Once => "once",
        /// Use a cached image if present, else pull.
        PreferCached => "prefer-cached",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for ok in [
            "busybox",
            "library/busybox:latest",
            "public.ecr.aws/bottlerocket/bottlerocket-admin:v0.11.0",
            "328549459982.dkr.ecr.us-west-2.amazonaws.com/bottlerocket-control:v0.7.0",
            "localhost:5000/a/b__c/d-e--f:1.0",
            "registry.example.com/img@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "MyRegistry.example.com/x",
        ] {
            ImageReference::try_from(ok).unwrap();
        }
        for bad in [
            "",
            "upper/Case",
            "img:",
            "img:-tag",
            "a//b",
            "a/b_/c",
            "a/b...c",
            "img@sha256:abc",
            "img with space",
            "registry:99999/img",
            "registry.example.com/",
        ] {
            assert!(ImageReference::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ecs_values() {
        EcsClusterName::try_from("default").unwrap();
        EcsClusterName::try_from("arn:aws:ecs:us-west-2:123456789012:cluster/x").unwrap();
        assert!(EcsClusterName::try_from("my cluster").is_err());
        EcsAttributeValue::try_from("a value").unwrap();
        assert!(EcsAttributeKey::try_from("a key").is_err());
    }
}
