//! The JSON Schema of [`Settings`] and the Markdown settings reference generated from it.

use crate::{Settings, ALL_FAMILIES};
use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::schema::{InstanceType, RootSchema, Schema, SchemaObject, SingleOrVec};
use schemars::JsonSchema;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Where the checked-in schema lives, relative to the repository root.
pub const SCHEMA_PATH: &str = "schemas/settings.schema.json";

/// Where the checked-in settings reference lives, relative to the repository root.
pub const REFERENCE_PATH: &str = "docs/settings-reference.md";

/// A string schema with a description (its first letter capitalised).
pub(crate) fn string_schema(description: &str) -> SchemaObject {
    let mut schema = SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        ..Default::default()
    };
    let mut description = description.to_owned();
    if let Some(first) = description.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    schema.metadata().description = Some(description);
    schema
}

/// The schema of a map whose keys are `K` and values `V` (JSON Schema `propertyNames` carries
/// the key rules, which a plain map schema would lose).
pub(crate) fn map_of<K: JsonSchema, V: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = SchemaObject {
        instance_type: Some(InstanceType::Object.into()),
        ..Default::default()
    };
    let object = schema.object();
    object.additional_properties = Some(Box::new(generator.subschema_for::<V>()));
    object.property_names = Some(Box::new(generator.subschema_for::<K>()));
    schema.into()
}

/// The JSON Schema (draft 7) of [`Settings`], i.e. of the object under `settings`. Absent keys
/// mean "leave unchanged", so no key is required.
pub fn schema() -> RootSchema {
    SchemaSettings::draft07()
        .with(|settings| settings.option_add_null_type = false)
        .into_generator()
        .into_root_schema_for::<Settings>()
}

/// [`schema`] rendered as pretty JSON with a trailing newline, as checked in at
/// [`SCHEMA_PATH`].
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// One row of the reference.
struct Row {
    key: String,
    kind: String,
    description: String,
}

/// Walks the schema, turning every settable key into a [`Row`].
struct Walker<'a> {
    definitions: &'a BTreeMap<String, Schema>,
    rows: Vec<Row>,
}

impl<'a> Walker<'a> {
    /// Follows `$ref` and single-element `allOf` wrappers to the schema that holds the rules,
    /// returning the definition name when there is one.
    fn resolve(&self, schema: &'a Schema) -> (Option<&'a str>, Option<&'a SchemaObject>) {
        let Schema::Object(object) = schema else {
            return (None, None);
        };
        if let Some(reference) = &object.reference {
            let name = reference.trim_start_matches("#/definitions/");
            return match self.definitions.get(name) {
                Some(target) => (Some(name), self.resolve(target).1),
                None => (Some(name), None),
            };
        }
        if let Some(all_of) = object.subschemas.as_ref().and_then(|s| s.all_of.as_ref()) {
            if let [only] = all_of.as_slice() {
                return self.resolve(only);
            }
        }
        (None, Some(object))
    }

    /// The properties of a struct schema, if it is one.
    fn properties(object: &SchemaObject) -> Option<&schemars::Map<String, Schema>> {
        object
            .object
            .as_ref()
            .map(|o| &o.properties)
            .filter(|p| !p.is_empty())
    }

    /// A short human-readable type.
    fn kind(&self, schema: &'a Schema) -> String {
        let (name, object) = self.resolve(schema);
        if let Some(name) = name {
            return format!("`{name}`");
        }
        let Some(object) = object else {
            return "any".to_owned();
        };
        if let Some((key, value)) = Self::map_parts(object) {
            let key = key.map_or_else(|| "string".to_owned(), |k| self.kind(k));
            return format!("map of {key} → {}", self.kind(value));
        }
        if let Some(items) = Self::items(object) {
            return format!("list of {}", self.kind(items));
        }
        let base = match &object.instance_type {
            Some(SingleOrVec::Single(kind)) => json_type(kind),
            _ => "any".to_owned(),
        };
        match &object.format {
            Some(format) => format!("{base} ({format})"),
            None => base,
        }
    }

    fn map_parts(object: &'a SchemaObject) -> Option<(Option<&'a Schema>, &'a Schema)> {
        let validation = object.object.as_ref()?;
        let value = validation.additional_properties.as_deref()?;
        Some((validation.property_names.as_deref(), value))
    }

    fn items(object: &'a SchemaObject) -> Option<&'a Schema> {
        match object.array.as_ref()?.items.as_ref()? {
            SingleOrVec::Single(item) => Some(item),
            SingleOrVec::Vec(_) => None,
        }
    }

    fn walk(&mut self, key: String, schema: &'a Schema) {
        let own_description = match schema {
            Schema::Object(object) => object.metadata.as_ref().and_then(|m| m.description.clone()),
            Schema::Bool(_) => None,
        };
        let (_, object) = self.resolve(schema);
        let Some(object) = object else {
            return;
        };
        if let Some(properties) = Self::properties(object) {
            for (name, property) in properties {
                self.walk(
                    format!("{key}.{}", crate::error::quote_segment(name)),
                    property,
                );
            }
            return;
        }
        let description = own_description
            .or_else(|| object.metadata.as_ref().and_then(|m| m.description.clone()))
            .unwrap_or_default();
        self.rows.push(Row {
            key: key.clone(),
            kind: self.kind(schema),
            description,
        });
        if let Some((_, value)) = Self::map_parts(object) {
            self.walk_children(format!("{key}.<name>"), value);
        } else if let Some(items) = Self::items(object) {
            self.walk_children(format!("{key}[]"), items);
        }
    }

    /// Adds rows for the fields of a map value or list item, when it is a struct.
    fn walk_children(&mut self, key: String, schema: &'a Schema) {
        let (_, object) = self.resolve(schema);
        if let Some(properties) = object.and_then(Self::properties) {
            for (name, property) in properties {
                self.walk(
                    format!("{key}.{}", crate::error::quote_segment(name)),
                    property,
                );
            }
        }
    }
}

fn json_type(kind: &InstanceType) -> String {
    match kind {
        InstanceType::Null => "null",
        InstanceType::Boolean => "boolean",
        InstanceType::Object => "object",
        InstanceType::Array => "array",
        InstanceType::Number => "number",
        InstanceType::String => "string",
        InstanceType::Integer => "integer",
    }
    .to_owned()
}

/// Escapes text for one Markdown table cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The settings reference in Markdown: one table per family with a row per dotted key (type and
/// description), then the rules of every value type. Checked in at [`REFERENCE_PATH`].
pub fn reference_markdown() -> String {
    let root = schema();
    let mut walker = Walker {
        definitions: &root.definitions,
        rows: Vec::new(),
    };
    let mut out = String::new();
    out.push_str(
        "# Settings reference\n\n\
         <!-- Generated from the Rust types in runtime/settings by `reference_markdown()`; do not \
         edit. Regenerate with `UPDATE_SCHEMAS=1 cargo test -p settings`. -->\n\n\
         Every key lives under `settings` and is written in kebab-case. All keys are optional: an \
         absent key is left unchanged, and unknown keys are rejected. `<name>` stands for a map \
         key chosen by the user and `[]` for an entry of a list. Value types are described at the \
         end. The JSON Schema of the same model is `schemas/settings.schema.json`.\n",
    );
    let families = root.schema.object.as_ref().map(|object| &object.properties);
    for family in ALL_FAMILIES {
        let Some(family_schema) = families.and_then(|properties| properties.get(*family)) else {
            continue;
        };
        let summary = match family_schema {
            Schema::Object(object) => object
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.description.clone())
                .unwrap_or_default(),
            Schema::Bool(_) => String::new(),
        };
        let _ = write!(out, "\n## `settings.{family}`\n\n");
        if !summary.is_empty() {
            let _ = writeln!(out, "{}\n", cell(&summary));
        }
        walker.rows.clear();
        walker.walk(format!("settings.{family}"), family_schema);
        out.push_str("| Key | Type | Description |\n| --- | --- | --- |\n");
        for row in &walker.rows {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                row.key,
                cell(&row.kind),
                cell(&row.description)
            );
        }
    }
    out.push_str("\n## Value types\n\n| Type | JSON type | Rules |\n| --- | --- | --- |\n");
    for (name, definition) in &root.definitions {
        let Schema::Object(object) = definition else {
            continue;
        };
        if Walker::properties(object).is_some() {
            continue;
        }
        let json = match (&object.instance_type, &object.subschemas) {
            (Some(SingleOrVec::Single(kind)), _) => json_type(kind),
            (_, Some(_)) => "one of several".to_owned(),
            _ => "any".to_owned(),
        };
        let mut rules = object
            .metadata
            .as_ref()
            .and_then(|m| m.description.clone())
            .unwrap_or_default();
        if let Some(pattern) = object.string.as_ref().and_then(|s| s.pattern.as_ref()) {
            let _ = write!(rules, " Pattern: `{pattern}`.");
        }
        let _ = writeln!(out, "| `{name}` | {json} | {} |", cell(&rules));
    }
    out
}
