//! Template helpers registered for every configuration template.
//!
//! | helper | use | renders |
//! | --- | --- | --- |
//! | `base64_decode` | `{{base64_decode settings.x}}` | the decoded (UTF-8) text of a base64 string |
//! | `join_array` | `{{join_array ", " settings.list}}` | the items joined by the separator; strings unquoted, other values as JSON; a missing value renders nothing |
//! | `default` | `{{default "x" settings.maybe}}` | the value, or the default when it is missing or `null` (never a strict-mode error) |
//! | `join_map` | `{{join_map "=" "," settings.labels}}` | `k=v` pairs of an object, sorted by key, joined by the pair separator; a missing value renders nothing |
//! | `if_not_null` | `{{#if_not_null settings.x}}…{{else}}…{{/if_not_null}}` | the block when the value is present and not `null` (unlike `#if`, also for `false`, `0` and `""`) |
//!
//! Scalars render as text: strings without quotes, numbers and booleans as JSON.

use base64::Engine as _;
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, PathAndJson, RenderContext, RenderError,
    RenderErrorReason, Renderable,
};
use serde_json::Value;

/// Registers every helper of this module in `registry`.
pub fn register_all(registry: &mut Handlebars<'_>) {
    registry.register_helper("base64_decode", Box::new(base64_decode));
    registry.register_helper("join_array", Box::new(join_array));
    registry.register_helper("default", Box::new(default));
    registry.register_helper("join_map", Box::new(join_map));
    registry.register_helper("if_not_null", Box::new(if_not_null));
}

fn other(helper: &str, reason: impl std::fmt::Display) -> RenderError {
    RenderErrorReason::Other(format!("helper '{helper}': {reason}")).into()
}

fn param<'a, 'rc>(
    h: &'a Helper<'rc>,
    helper: &'static str,
    idx: usize,
) -> Result<&'a PathAndJson<'rc>, RenderError> {
    h.param(idx)
        .ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex(helper, idx).into())
}

fn string_param(
    h: &Helper<'_>,
    helper: &'static str,
    idx: usize,
    what: &str,
) -> Result<String, RenderError> {
    match param(h, helper, idx)?.value() {
        Value::String(s) => Ok(s.clone()),
        other_value => Err(other(
            helper,
            format!("the {what} (parameter {idx}) must be a string, got {other_value}"),
        )),
    }
}

/// A missing parameter is an error in strict mode, naming the path.
fn present<'a, 'rc>(
    h: &'a Helper<'rc>,
    r: &Handlebars<'_>,
    helper: &'static str,
    idx: usize,
) -> Result<Option<&'a Value>, RenderError> {
    let p = param(h, helper, idx)?;
    if p.is_value_missing() {
        if r.strict_mode() {
            return Err(RenderErrorReason::MissingVariable(p.relative_path().cloned()).into());
        }
        return Ok(None);
    }
    Ok(Some(p.value()))
}

/// Text of a scalar: strings unquoted, other values as JSON.
pub(crate) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other_value => other_value.to_string(),
    }
}

fn base64_decode(
    h: &Helper<'_>,
    r: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    const NAME: &str = "base64_decode";
    let Some(value) = present(h, r, NAME, 0)? else {
        return Ok(());
    };
    let Value::String(encoded) = value else {
        return Err(other(
            NAME,
            format!("expected a base64 string, got {value}"),
        ));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| other(NAME, format!("invalid base64: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| other(NAME, format!("decoded data is not UTF-8: {e}")))?;
    out.write(&text)?;
    Ok(())
}

fn join_array(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    const NAME: &str = "join_array";
    let sep = string_param(h, NAME, 0, "separator")?;
    let list = param(h, NAME, 1)?;
    if list.is_value_missing() {
        return Ok(());
    }
    match list.value() {
        Value::Array(items) => {
            let joined: Vec<String> = items.iter().map(scalar_text).collect();
            out.write(&joined.join(&sep))?;
            Ok(())
        }
        Value::Null => Ok(()),
        other_value => Err(other(NAME, format!("expected a list, got {other_value}"))),
    }
}

fn default(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    const NAME: &str = "default";
    let fallback = param(h, NAME, 0)?.value();
    let text = match h.param(1) {
        Some(p) if !p.is_value_missing() && !p.value().is_null() => scalar_text(p.value()),
        _ => scalar_text(fallback),
    };
    out.write(&text)?;
    Ok(())
}

fn join_map(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    const NAME: &str = "join_map";
    let kv_sep = string_param(h, NAME, 0, "key/value separator")?;
    let pair_sep = string_param(h, NAME, 1, "pair separator")?;
    let map = param(h, NAME, 2)?;
    if map.is_value_missing() {
        return Ok(());
    }
    match map.value() {
        Value::Object(entries) => {
            let mut pairs: Vec<(&String, &Value)> = entries.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            let joined: Vec<String> = pairs
                .into_iter()
                .map(|(k, v)| format!("{k}{kv_sep}{}", scalar_text(v)))
                .collect();
            out.write(&joined.join(&pair_sep))?;
            Ok(())
        }
        Value::Null => Ok(()),
        other_value => Err(other(NAME, format!("expected a map, got {other_value}"))),
    }
}

fn if_not_null<'reg, 'rc>(
    h: &Helper<'rc>,
    r: &'reg Handlebars<'reg>,
    ctx: &'rc Context,
    rc: &mut RenderContext<'reg, 'rc>,
    out: &mut dyn Output,
) -> HelperResult {
    const NAME: &str = "if_not_null";
    let p = param(h, NAME, 0)?;
    let set = !p.is_value_missing() && !p.value().is_null();
    let block = if set { h.template() } else { h.inverse() };
    match block {
        Some(t) => t.render(r, ctx, rc, out),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn render(template: &str, data: serde_json::Value) -> Result<String, String> {
        crate::registry()
            .render_template(template, &data)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn helpers_render() {
        let data = json!({"s": {"b64": "aGk8Pg==", "list": ["a", 1, true], "map": {"z": 1, "a": "x"},
            "f": false, "n": null}});
        assert_eq!(
            render("{{base64_decode s.b64}}", data.clone()).unwrap(),
            "hi<>"
        );
        assert_eq!(
            render("{{join_array \"|\" s.list}}", data.clone()).unwrap(),
            "a|1|true"
        );
        assert_eq!(
            render("{{join_array \",\" s.none}}", data.clone()).unwrap(),
            ""
        );
        assert_eq!(
            render("{{join_map \":\" \";\" s.map}}", data.clone()).unwrap(),
            "a:x;z:1"
        );
        assert_eq!(
            render("{{default \"d\" s.none}}", data.clone()).unwrap(),
            "d"
        );
        assert_eq!(render("{{default \"d\" s.n}}", data.clone()).unwrap(), "d");
        assert_eq!(
            render("{{default \"d\" s.f}}", data.clone()).unwrap(),
            "false"
        );
        let t = "{{#if_not_null s.f}}set{{else}}unset{{/if_not_null}}";
        assert_eq!(render(t, data.clone()).unwrap(), "set");
        let t = "{{#if_not_null s.n}}set{{else}}unset{{/if_not_null}}";
        assert_eq!(render(t, data.clone()).unwrap(), "unset");
        let t = "{{#if_not_null s.none}}set{{/if_not_null}}";
        assert_eq!(render(t, data.clone()).unwrap(), "");
    }

    #[test]
    fn helper_errors() {
        let data = json!({"s": {"bad": "%%%", "num": 3}});
        let e = render("{{base64_decode s.bad}}", data.clone()).unwrap_err();
        assert!(
            e.contains("base64_decode") && e.contains("invalid base64"),
            "{e}"
        );
        // Strict mode: a missing value is an error in base64_decode.
        let e = render("{{base64_decode s.none}}", data.clone()).unwrap_err();
        assert!(e.contains("s.none"), "{e}");
        let e = render("{{join_array \",\" s.num}}", data.clone()).unwrap_err();
        assert!(e.contains("expected a list"), "{e}");
        let e = render("{{join_map \"=\" \",\" s.num}}", data).unwrap_err();
        assert!(e.contains("expected a map"), "{e}");
    }
}
