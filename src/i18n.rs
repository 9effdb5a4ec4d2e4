//! The waiting page's words in several languages: message catalogues in `assets/i18n/` (plain JSON,
//! one file per language, every key of English in every file: a unit test checks it), the language
//! chosen from `Accept-Language` unless the event fixes one, and an event's own texts over the
//! catalogue's.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The languages shipped, English first (the fallback); Arabic is written right to left.
pub const LANGUAGES: [&str; 6] = ["en", "de", "fr", "es", "ja", "ar"];
const RIGHT_TO_LEFT: [&str; 1] = ["ar"];

const CATALOGUES: [&str; 6] = [
    include_str!("../assets/i18n/en.json"),
    include_str!("../assets/i18n/de.json"),
    include_str!("../assets/i18n/fr.json"),
    include_str!("../assets/i18n/es.json"),
    include_str!("../assets/i18n/ja.json"),
    include_str!("../assets/i18n/ar.json"),
];

type Messages = BTreeMap<String, String>;

fn catalogues() -> &'static [Messages; 6] {
    static PARSED: OnceLock<[Messages; 6]> = OnceLock::new();
    PARSED.get_or_init(|| {
        CATALOGUES.map(|text| serde_json::from_str(text).expect("the shipped catalogues are JSON"))
    })
}

/// Whether `key` is one of the catalogue's (English has them all).
pub fn is_key(key: &str) -> bool {
    catalogues()[0].contains_key(key)
}

pub fn is_supported(lang: &str) -> bool {
    LANGUAGES.contains(&lang)
}

/// The language to speak: `forced` (the event's) when set, else the best of `accept_language`
/// (`de-CH, fr;q=0.9, en;q=0.8`) that is shipped, else English.
pub fn choose(accept_language: Option<&str>, forced: Option<&str>) -> &'static str {
    if let Some(lang) = forced.and_then(|f| LANGUAGES.iter().find(|l| **l == f)) {
        return lang;
    }
    let mut wanted: Vec<(f32, &str)> = accept_language
        .unwrap_or_default()
        .split(',')
        .filter_map(|item| {
            let mut parts = item.trim().split(';');
            let tag = parts.next()?.trim();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.parse::<f32>().ok())?;
            (quality > 0.0).then_some((quality, tag))
        })
        .collect();
    // Stable: among equal weights, the order the browser gave.
    wanted.sort_by(|a, b| b.0.total_cmp(&a.0));
    wanted
        .iter()
        .filter_map(|(_, tag)| {
            let primary = tag.split('-').next()?.to_ascii_lowercase();
            LANGUAGES.iter().find(|l| **l == primary)
        })
        .next()
        .copied()
        .unwrap_or("en")
}

/// One language's words for a page, with an event's own texts over them.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub lang: &'static str,
    messages: Messages,
}

impl Catalogue {
    /// `lang`'s messages (English for a key it lacks), then `overrides` (key → text).
    pub fn new(lang: &'static str, overrides: Option<&Messages>) -> Self {
        let all = catalogues();
        let index = LANGUAGES.iter().position(|l| *l == lang).unwrap_or(0);
        let mut messages = all[0].clone();
        messages.extend(all[index].clone());
        if let Some(overrides) = overrides {
            messages.extend(overrides.clone());
        }
        Self { lang, messages }
    }

    /// `ltr` or `rtl`, for the page's `dir`.
    pub fn direction(&self) -> &'static str {
        if RIGHT_TO_LEFT.contains(&self.lang) {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// The message `key` with its `{name}` placeholders filled in.
    pub fn text(&self, key: &str, vars: &[(&str, String)]) -> String {
        let mut text = self.messages.get(key).cloned().unwrap_or_default();
        for (name, value) in vars {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    pub fn messages(&self) -> &Messages {
        &self.messages
    }

    /// The messages as JSON that is safe inside a `<script type="application/json">` element.
    pub fn script_json(&self) -> String {
        serde_json::to_string(&self.messages)
            .unwrap_or_default()
            .replace('<', "\\u003c")
    }

    /// A wait said as a person would, in this language (the rounding of
    /// [`crate::estimate::humanize`]).
    pub fn wait(&self, wait_s: u64) -> String {
        let minutes = (wait_s as f64 / 60.0).round() as u64;
        match wait_s {
            0..60 => self.text("wait_under_minute", &[]),
            60..600 => self.text("wait_minutes", &[("m", minutes.max(1).to_string())]),
            600..3_600 => {
                let rounded = ((minutes + 2) / 5 * 5).max(10);
                self.text("wait_minutes", &[("m", rounded.to_string())])
            }
            _ => {
                let tens = (wait_s as f64 / 600.0).round() as u64;
                let (hours, rest) = (tens / 6, tens % 6 * 10);
                if rest == 0 {
                    self.text("wait_hours", &[("h", hours.to_string())])
                } else {
                    let vars = [("h", hours.to_string()), ("m", rest.to_string())];
                    self.text("wait_hours_minutes", &vars)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_message_with_its_placeholders() {
        let english = &catalogues()[0];
        for (lang, messages) in LANGUAGES.iter().zip(catalogues()) {
            assert_eq!(
                messages.keys().collect::<Vec<_>>(),
                english.keys().collect::<Vec<_>>(),
                "{lang}"
            );
            for (key, text) in english {
                for placeholder in ["{rate}", "{n}", "{wait}", "{m}", "{h}", "{s}"] {
                    assert_eq!(
                        text.contains(placeholder),
                        messages[key].contains(placeholder),
                        "{lang}.{key}: {placeholder}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_language_follows_the_browser_unless_the_event_fixes_it() {
        assert_eq!(choose(Some("de-CH, fr;q=0.9, en;q=0.8"), None), "de");
        assert_eq!(choose(Some("nl, fr;q=0.7, de;q=0.5"), None), "fr");
        assert_eq!(choose(Some("ja;q=0.2, es;q=0.9"), None), "es");
        assert_eq!(choose(Some("de;q=0, en"), None), "en");
        assert_eq!(choose(Some("xx, yy"), None), "en");
        assert_eq!(choose(None, None), "en");
        assert_eq!(choose(Some("de"), Some("ja")), "ja");
        assert_eq!(choose(Some("ar-EG"), None), "ar");
    }

    #[test]
    fn messages_fill_in_and_waits_read_naturally() {
        let german = Catalogue::new("de", None);
        assert_eq!(
            german.text("ahead_many", &[("n", "12".into())]),
            "12 Personen vor Ihnen."
        );
        assert_eq!(german.wait(745), "etwa 10 Min.");
        assert_eq!(german.direction(), "ltr");
        assert_eq!(Catalogue::new("ar", None).direction(), "rtl");
        let english = Catalogue::new("en", None);
        let waits = [5, 75, 745, 3_600, 5_400].map(|s| english.wait(s));
        assert_eq!(
            waits,
            [
                "less than a minute",
                "about 1 min",
                "about 10 min",
                "about 1 h",
                "about 1 h 30 min"
            ]
        );
        let own: Messages = [("hint".to_owned(), "Bitte warten.".to_owned())].into();
        assert_eq!(
            Catalogue::new("de", Some(&own)).text("hint", &[]),
            "Bitte warten."
        );
        assert!(!Catalogue::new("en", None).script_json().contains('<'));
    }
}
