//! Declarative macros that stamp out the settings structs and the validated value types, so that
//! every one of them behaves the same way (serde, schema, error messages).

/// Defines a settings struct: every field is optional (so partial updates deserialize), keys are
/// kebab-case, unknown keys are rejected and `None` fields are left out when serializing.
macro_rules! settings_struct {
    (
        $(#[$smeta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$smeta])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq,
            serde::Serialize, serde::Deserialize, schemars::JsonSchema,
        )]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }
    };
}

/// Defines a string newtype that can only hold a value accepted by `check` (a
/// `fn(&str) -> Result<(), String>` returning what is wrong). Deserializing an invalid value fails
/// with a message naming the kind of value, the offending value, the problem and what is expected.
macro_rules! validated_string {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            thing: $thing:literal,
            expected: $expected:literal,
            $(pattern: $pattern:literal,)?
            $(max_length: $max:literal,)?
            check: $check:path $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// What a valid value looks like, as said in error messages and the schema.
            pub const EXPECTED: &'static str = $expected;

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the value and returns the string it holds.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::values::InvalidValue;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                match $check(&value) {
                    Ok(()) => Ok(Self(value)),
                    Err(problem) => Err($crate::values::InvalidValue::new(
                        $thing, &value, &problem, $expected,
                    )),
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::values::InvalidValue;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::try_from(value.to_owned())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::values::InvalidValue;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::try_from(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Hash and Eq of the newtype are those of the string, so maps keyed by it can be
        // looked up with a `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::try_from(value).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                #[allow(unused_mut)]
                let mut schema = $crate::schema::string_schema(concat!($thing, ": ", $expected, "."));
                $( schema.string().pattern = Some($pattern.to_owned()); )?
                $( schema.string().max_length = Some($max); )?
                schema.into()
            }
        }
    };
}

/// Defines a closed set of string values as a Rust enum. Each variant has one canonical spelling
/// (used when serializing) and may have aliases that are accepted on input.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($thing:literal $(, $note:literal)?) {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => $canon:literal $(| $alias:literal)*
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical spelling of every value, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($canon),+];

            /// The canonical spelling of this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $canon,)+
                }
            }

            fn expected() -> String {
                #[allow(unused_mut)]
                let mut expected = format!("one of {}", Self::NAMES.join(", "));
                $( expected.push_str(concat!(" (", $note, ")")); )?
                expected
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::values::InvalidValue;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($canon $(| $alias)* => Ok($name::$variant),)+
                    _ => Err($crate::values::InvalidValue::new(
                        $thing,
                        value,
                        "not a known value",
                        &Self::expected(),
                    )),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::values::InvalidValue;

            fn try_from(value: String) -> Result<Self, $crate::values::InvalidValue> {
                value.parse()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                value.parse().map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                let description = format!("{}: {}.", $thing, Self::expected());
                let mut schema = $crate::schema::string_schema(&description);
                schema.enum_values = Some(
                    [$($canon $(, $alias)*),+]
                        .iter()
                        .map(|name| serde_json::Value::from(*name))
                        .collect(),
                );
                schema.into()
            }
        }
    };
}
