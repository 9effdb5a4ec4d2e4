//! A partial update of a settings type, generic over the type: a JSON merge patch (RFC 7396) on
//! the type's JSON form, whose fields are checked against the type's own OpenAPI schema. Adding a
//! setting is adding a field; no patch type is kept by hand beside it.

use std::collections::BTreeSet;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::PartialSchema;

/// The fields to change of a `T`: those named replace `T`'s, objects are merged field by field,
/// and `null` puts a field back to its default (`opens_at: null` removes the opening time).
/// Fields `T`'s schema marks read-only are the server's: a patch naming one is refused, as is a
/// field `T` does not have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Patch<T> {
    fields: Map<String, Value>,
    #[serde(skip)]
    of: PhantomData<fn() -> T>,
}

impl<T> Default for Patch<T> {
    fn default() -> Self {
        Self {
            fields: Map::new(),
            of: PhantomData,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// A name the client chose: said with anything but printable ASCII escaped, so the sentence
    /// stays plain text whatever it holds.
    #[error("`{}` is not a setting", .0.escape_default())]
    NotASetting(String),
    #[error("`{0}` is set by the server, not by a patch")]
    ServerSet(String),
    #[error("`{field}`: {reason}")]
    Unreadable { field: String, reason: String },
    #[error("a patch is a JSON object of settings")]
    NotAnObject,
}

impl PatchError {
    /// The field the error is about, if one.
    pub fn field(&self) -> Option<&str> {
        match self {
            PatchError::NotASetting(field)
            | PatchError::ServerSet(field)
            | PatchError::Unreadable { field, .. } => Some(field),
            PatchError::NotAnObject => None,
        }
    }
}

impl<T> TryFrom<Value> for Patch<T> {
    type Error = PatchError;

    fn try_from(value: Value) -> Result<Self, PatchError> {
        match value {
            Value::Object(fields) => Ok(Self {
                fields,
                of: PhantomData,
            }),
            _ => Err(PatchError::NotAnObject),
        }
    }
}

impl<T> Patch<T>
where
    T: Serialize + DeserializeOwned + PartialSchema,
{
    /// The patch with `field` set to `value` (as its JSON form).
    pub fn with(mut self, field: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).expect("settings values are JSON");
        self.fields.insert(field.to_owned(), value);
        self
    }

    /// The patch with `field` set to `value` unless the patch names it already.
    pub fn or_with(self, field: &str, value: impl Serialize) -> Self {
        if self.fields.contains_key(field) {
            self
        } else {
            self.with(field, value)
        }
    }

    /// `base` with this patch applied; the fields are read as `T` reads them, nothing more is
    /// checked (the type's own rules are the caller's to ask).
    pub fn apply(&self, base: &T) -> Result<T, PatchError> {
        let fields = Fields::of::<T>();
        for name in self.fields.keys() {
            if fields.server_set.contains(name) {
                return Err(PatchError::ServerSet(name.clone()));
            }
            if !fields.settable.contains(name) {
                return Err(PatchError::NotASetting(name.clone()));
            }
        }
        merged(base, Value::Object(self.fields.clone())).map_err(|whole| self.blame(base, whole))
    }

    /// The error naming the first field that cannot be read on its own (a field's type or range
    /// as serde reads it), else the whole patch's error.
    fn blame(&self, base: &T, whole: serde_json::Error) -> PatchError {
        self.fields
            .iter()
            .find_map(|(name, value)| {
                let one = Map::from_iter([(name.clone(), value.clone())]);
                merged(base, Value::Object(one))
                    .err()
                    .map(|e| PatchError::Unreadable {
                        field: name.clone(),
                        reason: e.to_string(),
                    })
            })
            .unwrap_or_else(|| PatchError::Unreadable {
                field: "settings".into(),
                reason: whole.to_string(),
            })
    }
}

fn merged<T: Serialize + DeserializeOwned>(base: &T, patch: Value) -> Result<T, serde_json::Error> {
    let mut document = serde_json::to_value(base)?;
    json_patch::merge(&mut document, &patch);
    serde_json::from_value(document)
}

/// The top-level fields of a type's JSON form, read from its schema: flattened sections
/// (`allOf` of inline objects, each maybe wrapped in a described `oneOf`) included.
struct Fields {
    settable: BTreeSet<String>,
    server_set: BTreeSet<String>,
}

impl Fields {
    fn of<T: PartialSchema>() -> Self {
        let mut fields = Fields {
            settable: BTreeSet::new(),
            server_set: BTreeSet::new(),
        };
        fields.collect(&T::schema());
        fields
    }

    fn collect(&mut self, schema: &RefOr<Schema>) {
        match schema {
            RefOr::T(Schema::Object(object)) => {
                for (name, property) in &object.properties {
                    let read_only = matches!(
                        property,
                        RefOr::T(Schema::Object(field)) if field.read_only == Some(true)
                    );
                    let set = if read_only {
                        &mut self.server_set
                    } else {
                        &mut self.settable
                    };
                    set.insert(name.clone());
                }
            }
            RefOr::T(Schema::AllOf(all)) => all.items.iter().for_each(|item| self.collect(item)),
            // A flattened section with a description of its own is a `oneOf` of that one object.
            RefOr::T(Schema::OneOf(one)) => one.items.iter().for_each(|item| self.collect(item)),
            _ => {}
        }
    }
}

/// The fields a patch of `T` may name, for what must offer each (the CLI's flags).
pub fn settable_fields<T: PartialSchema>() -> BTreeSet<String> {
    Fields::of::<T>().settable
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventSettings, QueueMethod};
    use serde_json::json;

    fn patch(value: Value) -> Patch<EventSettings> {
        Patch::try_from(value).unwrap()
    }

    #[test]
    fn the_schema_names_every_setting_and_the_servers_fields() {
        let fields = Fields::of::<EventSettings>();
        for name in [
            "state",
            "batch_size",
            "target_url",
            "opens_at",
            "lanes",
            "page",
            "rate_limits",
            "cors_origins",
        ] {
            assert!(
                fields.settable.contains(name),
                "{name}: {:?}",
                fields.settable
            );
        }
        assert_eq!(
            fields.server_set,
            BTreeSet::from(["closed_at", "drew_at_random", "state_changed_ms"].map(String::from))
        );
        let written = serde_json::to_value(EventSettings::default()).unwrap();
        for name in written.as_object().unwrap().keys() {
            assert!(
                fields.settable.contains(name),
                "{name} is written but not settable"
            );
        }
    }

    #[test]
    fn fields_merge_and_null_puts_back_the_default() {
        let base = patch(json!({
            "batch_size": 5,
            "opens_at": "2030-01-01T10:00:00Z",
            "page": { "title": "Tour", "message": "Hello" },
        }))
        .apply(&EventSettings::default())
        .unwrap();
        let next = patch(json!({
            "batch_size": null,
            "opens_at": null,
            "page": { "message": null, "logo_url": "https://x.example/logo.png" },
            "method": "random",
        }))
        .apply(&base)
        .unwrap();
        assert_eq!(next.release.batch_size, 100);
        assert_eq!(next.schedule.opens_at, None);
        assert_eq!(next.page.title.as_deref(), Some("Tour"), "objects merge");
        assert_eq!(next.page.message, None);
        assert_eq!(next.ordering.method, QueueMethod::Random);
    }

    #[test]
    fn unknown_server_set_and_unreadable_fields_are_named() {
        let base = EventSettings::default();
        let refused = |value| patch(value).apply(&base).unwrap_err();
        assert_eq!(
            refused(json!({ "batch": 1 })),
            PatchError::NotASetting("batch".into())
        );
        assert_eq!(
            refused(json!({ "closed_at": 1 })),
            PatchError::ServerSet("closed_at".into())
        );
        let unreadable = refused(json!({ "batch_size": 1, "method": "lifo" }));
        assert_eq!(unreadable.field(), Some("method"), "{unreadable}");
        let unreadable = refused(json!({ "page": { "colour": "#fff" } }));
        assert_eq!(unreadable.field(), Some("page"), "{unreadable}");
        let time = refused(json!({ "opens_at": "2030-01-01 10:00" }));
        assert!(time.to_string().contains("Europe/Berlin"), "{time}");
        assert_eq!(
            Patch::<EventSettings>::try_from(json!([1])),
            Err(PatchError::NotAnObject)
        );
    }
}
