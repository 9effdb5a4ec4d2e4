//! The pages people see, as templates (minijinja, HTML-escaped): built in from `assets/`, or an
//! operator's own from the `page_templates` directory, any of which replaces the built-in one of its
//! name. They are read and compiled at start, so a broken template stops the service with its
//! name and line rather than failing a visitor. docs/PAGE.md says what each one is given.

use std::path::Path;

use minijinja::{Environment, Value};

use super::problem::ApiError;

/// The waiting page: a shell that `waitroom.js` fills in and keeps live.
pub const WAITING: &str = "waiting.html";
/// The same page for browsers without JavaScript: rendered on the server, reloading itself.
pub const NO_SCRIPT: &str = "nojs.html";
/// For an address with no waiting room behind it.
pub const NOT_HERE: &str = "not-here.html";

const BUILT_IN: [(&str, &str); 3] = [
    (WAITING, include_str!("../../assets/waiting.html")),
    (NO_SCRIPT, include_str!("../../assets/nojs.html")),
    (NOT_HERE, include_str!("../../assets/not-here.html")),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the page template {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the page template {name} does not compile: {source}")]
    Syntax {
        name: &'static str,
        source: minijinja::Error,
    },
}

pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    /// The built-in templates, each replaced by `dir/<name>` when that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        for (name, built_in) in BUILT_IN {
            let own = dir.map(|dir| dir.join(name)).filter(|path| path.exists());
            let source = match own {
                Some(path) => {
                    std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                None => built_in.to_owned(),
            };
            env.add_template_owned(name, source)
                .map_err(|source| TemplateError::Syntax { name, source })?;
        }
        Ok(Self { env })
    }

    /// `name` rendered with `context`.
    pub fn render(&self, name: &str, context: Value) -> Result<String, ApiError> {
        self.env
            .get_template(name)
            .and_then(|template| template.render(context))
            .map_err(|e| ApiError::Internal(format!("page template {name}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_templates_replace_built_in_ones_and_are_escaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(WAITING), "<h1>{{ title }}</h1>").unwrap();
        let pages = Pages::load(Some(dir.path())).unwrap();
        let html = pages
            .render(
                WAITING,
                minijinja::context! { title => "<script>x</script>" },
            )
            .unwrap();
        assert_eq!(html, "<h1>&lt;script&gt;x&lt;&#x2f;script&gt;</h1>");
        // The others stay built in.
        let english = crate::i18n::Catalogue::new("en", None);
        let words = minijinja::context! {
            t => Value::from(minijinja::value::Serde(english.messages())),
        };
        assert!(pages
            .render(NOT_HERE, words)
            .unwrap()
            .contains("No waiting room here"));

        std::fs::write(dir.path().join(NO_SCRIPT), "{% if %}").unwrap();
        let broken = Pages::load(Some(dir.path()))
            .err()
            .expect("refused at start");
        assert!(broken.to_string().contains("nojs.html"), "{broken}");
    }
}
