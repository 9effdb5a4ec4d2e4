//! The waiting page's words in several languages: Project Fluent message files in `assets/i18n/`
//! (one per language, every message of English in every file with the same variables: a unit test
//! checks it), rendered here with `fluent-bundle` and in the browser with `@fluent/bundle` from the
//! same text, each choosing plural forms by CLDR's rules and formatting numbers per locale. The
//! language is chosen from `Accept-Language` unless the event fixes one, and an event's own texts
//! (Fluent patterns too) go over the shipped ones.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::memoizer::MemoizerKind;
use fluent_bundle::types::FluentNumber;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use fluent_syntax::ast;
use icu_decimal::input::Decimal;
use icu_decimal::DecimalFormatter;
use icu_plurals::{PluralCategory, PluralRules};
use intl_memoizer::Memoizable;
use unic_langid::LanguageIdentifier;

/// The languages shipped, English first (the fallback); Arabic is written right to left.
pub const LANGUAGES: [&str; 9] = ["en", "de", "fr", "es", "pt-BR", "ja", "zh-Hans", "ko", "ar"];
const RIGHT_TO_LEFT: [&str; 1] = ["ar"];

const SOURCES: [&str; 9] = [
    include_str!("../assets/i18n/en.ftl"),
    include_str!("../assets/i18n/de.ftl"),
    include_str!("../assets/i18n/fr.ftl"),
    include_str!("../assets/i18n/es.ftl"),
    include_str!("../assets/i18n/pt-BR.ftl"),
    include_str!("../assets/i18n/ja.ftl"),
    include_str!("../assets/i18n/zh-Hans.ftl"),
    include_str!("../assets/i18n/ko.ftl"),
    include_str!("../assets/i18n/ar.ftl"),
];

/// The messages that say a count, each with the variable it counts by (docs/PAGE.md's table, and
/// the browser test that checks the page's script says them as the server does).
pub const COUNTED: [(&str, &str); 8] = [
    ("ahead", "n"),
    ("basis_measured", "rate"),
    ("basis_schedule", "rate"),
    ("basis_measured_hourly", "rate"),
    ("basis_schedule_hourly", "rate"),
    ("nojs_reloads", "s"),
    ("in_prequeue", "n"),
    ("in_draw", "n"),
];

type Bundle = FluentBundle<Arc<FluentResource>>;

/// A shipped language's messages: parsed, and a bundle of them alone.
struct Messages {
    resource: Arc<FluentResource>,
    bundle: Bundle,
}

fn shipped() -> &'static [Messages] {
    static PARSED: OnceLock<Vec<Messages>> = OnceLock::new();
    PARSED.get_or_init(|| {
        LANGUAGES
            .iter()
            .zip(SOURCES)
            .map(|(lang, source)| {
                let resource = Arc::new(
                    FluentResource::try_new(source.to_owned())
                        .expect("the shipped messages are Fluent"),
                );
                let mut bundle = bundle(lang);
                bundle
                    .add_resource(resource.clone())
                    .expect("a shipped file names each message once");
                Messages { resource, bundle }
            })
            .collect()
    })
}

/// An empty bundle for `lang`, set up as the page's script sets up its own: no bidi isolation
/// marks around variables (the page marks direction itself), numbers formatted by CLDR's rules.
fn bundle(lang: &str) -> Bundle {
    let id: LanguageIdentifier = lang.parse().expect("a shipped language is a language tag");
    let mut bundle = Bundle::new_concurrent(vec![id]);
    bundle.set_use_isolating(false);
    bundle.set_formatter(Some(format_number));
    bundle
}

/// Numbers as the browser's `Intl.NumberFormat` writes them in the bundle's language (grouping,
/// the decimal sign, the digits): ICU4X with CLDR's data.
fn format_number<M: MemoizerKind>(value: &FluentValue, memoizer: &M) -> Option<String> {
    let FluentValue::Number(number) = value else {
        return None;
    };
    memoizer
        .with_try_get_threadsafe::<Shipped, _, _>((), |shipped| shipped.write(number))
        .ok()
}

/// Which shipped language a bundle speaks, found once per bundle by its memoizer: the formatter
/// is handed nothing else.
struct Shipped(usize);

impl Memoizable for Shipped {
    type Args = ();
    type Error = String;

    fn construct(lang: LanguageIdentifier, _: ()) -> Result<Self, String> {
        let lang = lang.to_string();
        LANGUAGES
            .iter()
            .position(|shipped| *shipped == lang)
            .map(Shipped)
            .ok_or_else(|| format!("{lang} is not shipped"))
    }
}

impl Shipped {
    fn write(&self, number: &FluentNumber) -> String {
        cldr()[self.0].digits.format(&decimal(number)).to_string()
    }
}

/// A shipped language's CLDR data, as ICU4X has it: how it writes numbers, how it chooses plural
/// forms.
struct Cldr {
    digits: DecimalFormatter,
    plurals: PluralRules,
}

/// Each shipped language's [`Cldr`], in the order of [`LANGUAGES`].
fn cldr() -> &'static [Cldr] {
    static DATA: OnceLock<Vec<Cldr>> = OnceLock::new();
    DATA.get_or_init(|| {
        LANGUAGES
            .iter()
            .map(|lang| {
                let locale: icu_locale_core::Locale =
                    lang.parse().expect("a shipped language is a locale");
                Cldr {
                    digits: DecimalFormatter::try_new((&locale).into(), Default::default())
                        .expect("ICU4X has every shipped language"),
                    plurals: PluralRules::try_new((&locale).into(), Default::default())
                        .expect("ICU4X has every shipped language"),
                }
            })
            .collect()
    })
}

/// `pattern` with each choice by a number made by today's CLDR rules: the number in the selector
/// is replaced by the name of its plural category (`{ $n -> … }` becomes `{ "many" -> … }` for a
/// million in French), so `fluent-bundle`, whose own rules are CLDR 37's, picks the variant the
/// browser's `Intl.PluralRules` picks. Everything else is left to `fluent-bundle`.
fn with_plural_forms<'s>(
    pattern: &ast::Pattern<&'s str>,
    args: &FluentArgs,
    rules: &PluralRules,
) -> ast::Pattern<&'s str> {
    let elements = pattern.elements.iter().map(|element| match element {
        ast::PatternElement::Placeable {
            expression: ast::Expression::Select { selector, variants },
        } => {
            let selector = match selector {
                ast::InlineExpression::VariableReference { id } => match args.get(id.name) {
                    Some(FluentValue::Number(number)) => ast::InlineExpression::StringLiteral {
                        value: category_name(rules.category_for(&decimal(number))),
                    },
                    _ => selector.clone(),
                },
                _ => selector.clone(),
            };
            let variants = variants
                .iter()
                .map(|variant| ast::Variant {
                    value: with_plural_forms(&variant.value, args, rules),
                    ..variant.clone()
                })
                .collect();
            ast::PatternElement::Placeable {
                expression: ast::Expression::Select { selector, variants },
            }
        }
        other => other.clone(),
    });
    ast::Pattern {
        elements: elements.collect(),
    }
}

fn category_name(category: PluralCategory) -> &'static str {
    match category {
        PluralCategory::Zero => "zero",
        PluralCategory::One => "one",
        PluralCategory::Two => "two",
        PluralCategory::Few => "few",
        PluralCategory::Many => "many",
        PluralCategory::Other => "other",
    }
}

/// A number as the page shows it: whole, or with at most one decimal.
fn decimal(number: &FluentNumber) -> Decimal {
    let mut decimal = Decimal::from((number.value * 10.0).round() as i64);
    decimal.multiply_pow10(-1);
    decimal.trim_end();
    decimal
}

/// Whether `key` is a message of the page (English has them all).
pub fn is_key(key: &str) -> bool {
    shipped()[0].bundle.has_message(key)
}

pub fn is_supported(lang: &str) -> bool {
    LANGUAGES.contains(&lang)
}

/// The shipped language a BCP 47 tag asks for, if any: `de-CH` is German, `pt` and `pt-PT`
/// Portuguese (Brazil's, the one shipped), `zh`, `zh-CN` and `zh-Hans-*` simplified Chinese, but
/// not `zh-TW`, `zh-HK` or `zh-Hant` (written in traditional characters).
fn shipped_for(tag: &str) -> Option<&'static str> {
    let tag = tag.to_ascii_lowercase();
    let mut parts = tag.split(['-', '_']);
    let primary = parts.next()?;
    if primary == "zh" && parts.any(|part| ["hant", "tw", "hk", "mo"].contains(&part)) {
        return None;
    }
    LANGUAGES
        .iter()
        .find(|lang| lang.split('-').next() == Some(primary))
        .copied()
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
        .find_map(|(_, tag)| shipped_for(tag))
        .unwrap_or("en")
}

/// An event's own text for message `key` as a Fluent resource of that one message: plain text
/// stays as written, `{ $n }` and selectors work as in the shipped files.
fn own_message(key: &str, text: &str) -> String {
    let body = text.trim().replace('\n', "\n    ");
    format!("{key} =\n    {body}\n")
}

/// Why an event's own text for `key` cannot be used, if it cannot: not a message of the page, or
/// not a Fluent pattern (an unclosed `{`, say).
pub fn check_own_text(key: &str, text: &str) -> Result<(), String> {
    if !is_key(key) {
        return Err(format!("{key} is not a message of the page"));
    }
    if text.trim().is_empty() {
        return Err(format!("{key} is empty"));
    }
    FluentResource::try_new(own_message(key, text))
        .map(drop)
        .map_err(|(_, errors)| format!("{key} is not a Fluent pattern: {:?}", errors[0].kind))
}

/// The words of one page: a language's messages, with an event's own texts over them.
pub struct Catalogue {
    pub lang: &'static str,
    index: usize,
    /// The event's own texts as Fluent source (empty when it has none), and the bundle with them.
    own: String,
    own_bundle: Option<Bundle>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("lang", &self.lang)
            .field("own", &self.own)
            .finish()
    }
}

impl Catalogue {
    /// `lang`'s messages (English for one it lacks), then `own` (message id → Fluent pattern;
    /// checked when the event was saved, and one that does not parse is left out).
    pub fn new(lang: &'static str, own: Option<&BTreeMap<String, String>>) -> Self {
        let index = LANGUAGES.iter().position(|l| *l == lang).unwrap_or(0);
        let own: String = own
            .into_iter()
            .flatten()
            .filter(|(key, text)| check_own_text(key, text).is_ok())
            .map(|(key, text)| own_message(key, text))
            .collect();
        let own_bundle = (!own.is_empty()).then(|| {
            let mut bundle = bundle(LANGUAGES[index]);
            let ours = FluentResource::try_new(own.clone()).unwrap_or_else(|(partial, _)| partial);
            bundle
                .add_resource(shipped()[index].resource.clone())
                .expect("a shipped file names each message once");
            bundle.add_resource_overriding(Arc::new(ours));
            bundle
        });
        Self {
            lang: LANGUAGES[index],
            index,
            own,
            own_bundle,
        }
    }

    fn bundle(&self) -> &Bundle {
        self.own_bundle
            .as_ref()
            .unwrap_or(&shipped()[self.index].bundle)
    }

    /// `n` as this language writes numbers (`12.345` in German, `12 345` in French).
    pub fn number(&self, n: u64) -> String {
        Shipped(self.index).write(&FluentNumber::from(n))
    }

    /// `ltr` or `rtl`, for the page's `dir`.
    pub fn direction(&self) -> &'static str {
        if RIGHT_TO_LEFT.contains(&self.lang) {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// The message `key` with `args`, in this language (in English if this language lacks it).
    pub fn text(&self, key: &str, args: &[(&str, FluentValue)]) -> String {
        let mut fluent_args = FluentArgs::with_capacity(args.len());
        for (name, value) in args {
            fluent_args.set(*name, value.clone());
        }
        let (bundle, index) = match self.bundle().has_message(key) {
            true => (self.bundle(), self.index),
            false => (&shipped()[0].bundle, 0),
        };
        let Some(pattern) = bundle.get_message(key).and_then(|message| message.value()) else {
            return String::new();
        };
        let chosen = with_plural_forms(pattern, &fluent_args, &cldr()[index].plurals);
        let mut errors = vec![];
        bundle
            .format_pattern(&chosen, Some(&fluent_args), &mut errors)
            .into_owned()
    }

    /// A wait, rounded by [`Rounded::of`], in this language's words.
    pub fn wait(&self, rounded: Rounded) -> String {
        self.text("wait", &rounded.args())
    }

    /// Every message that needs no variable, for templates (`{{ t.leave }}`).
    pub fn messages(&self) -> BTreeMap<&'static str, String> {
        shipped()[0]
            .resource
            .entries()
            .filter_map(|entry| match entry {
                ast::Entry::Message(message) => Some(message.id.name),
                _ => None,
            })
            .filter_map(|key| {
                let message = self.bundle().get_message(key)?;
                let mut errors = vec![];
                let text = self
                    .bundle()
                    .format_pattern(message.value()?, None, &mut errors);
                errors.is_empty().then(|| (key, text.into_owned()))
            })
            .collect()
    }

    /// What the page's script needs to say everything itself, as JSON that is safe inside a
    /// `<script type="application/json">` element: the language, its Fluent source and the event's
    /// own texts (added over it).
    pub fn script_json(&self) -> String {
        serde_json::json!({
            "lang": self.lang,
            "messages": SOURCES[self.index],
            "own": self.own,
        })
        .to_string()
        .replace('<', "\\u003c")
    }
}

/// A wait rounded the way a person says it: the one rule behind every wait the page and the API put
/// in words. Under 10 minutes to the minute, under an hour to 5 minutes, under 3 hours to 10 minutes;
/// longer waits are not worth a figure ("more than 3 hours").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "unit", rename_all = "snake_case")]
pub enum Rounded {
    UnderMinute,
    Minutes { minutes: u64 },
    Hours { hours: u64 },
    HoursMinutes { hours: u64, minutes: u64 },
    MoreThan { hours: u64 },
}

/// Waits from this long are said as "more than" it.
const LONGEST_SAID_S: u64 = 3 * 3_600;

impl Rounded {
    pub fn of(wait_s: u64) -> Self {
        let minutes = (wait_s as f64 / 60.0).round() as u64;
        let hours = |minutes: u64| match (minutes / 60, minutes % 60) {
            (hours, 0) => Self::Hours { hours },
            (hours, minutes) => Self::HoursMinutes { hours, minutes },
        };
        match wait_s {
            0..60 => Self::UnderMinute,
            60..600 => Self::Minutes {
                minutes: minutes.max(1),
            },
            600..3_600 => match ((minutes + 2) / 5 * 5).max(10) {
                60 => Self::Hours { hours: 1 },
                minutes => Self::Minutes { minutes },
            },
            3_600..LONGEST_SAID_S => hours((wait_s as f64 / 600.0).round() as u64 * 10),
            _ => Self::MoreThan {
                hours: LONGEST_SAID_S / 3_600,
            },
        }
    }

    /// The variables of the `wait` message.
    pub fn args(self) -> Vec<(&'static str, FluentValue<'static>)> {
        let (unit, hours, minutes) = match self {
            Self::UnderMinute => ("under_minute", 0, 0),
            Self::Minutes { minutes } => ("minutes", 0, minutes),
            Self::Hours { hours } => ("hours", hours, 0),
            Self::HoursMinutes { hours, minutes } => ("hours_minutes", hours, minutes),
            Self::MoreThan { hours } => ("more_than", hours, 0),
        };
        vec![
            ("unit", unit.into()),
            ("hours", hours.into()),
            ("minutes", minutes.into()),
        ]
    }

    /// Every wait there is to say (a few dozen), each in English once: status answers borrow them.
    pub fn english(self) -> &'static str {
        static SAID: OnceLock<std::collections::HashMap<Rounded, String>> = OnceLock::new();
        let said = SAID.get_or_init(|| {
            let english = Catalogue::new("en", None);
            (0..=LONGEST_SAID_S)
                .step_by(30)
                .map(Self::of)
                .map(|rounded| (rounded, english.wait(rounded)))
                .collect()
        });
        said.get(&self).map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts every message with a number is rendered with, here and in docs/PAGE.md.
    const COUNTS: [u64; 7] = [0, 1, 2, 3, 11, 100, 1_000_000];

    /// What a message's pattern depends on: the variables it uses, and those it chooses a variant
    /// by, with the variants' keys.
    #[derive(Default)]
    struct Shape {
        used: Vec<&'static str>,
        selectors: Vec<(&'static str, Vec<&'static str>)>,
    }

    impl Shape {
        fn of_pattern(&mut self, pattern: &ast::Pattern<&'static str>) {
            for element in &pattern.elements {
                if let ast::PatternElement::Placeable { expression } = element {
                    self.of_expression(expression);
                }
            }
        }

        fn of_expression(&mut self, expression: &ast::Expression<&'static str>) {
            match expression {
                ast::Expression::Select { selector, variants } => {
                    if let ast::InlineExpression::VariableReference { id } = selector {
                        self.used.push(id.name);
                        let keys = variants
                            .iter()
                            .map(|variant| match &variant.key {
                                ast::VariantKey::Identifier { name } => *name,
                                ast::VariantKey::NumberLiteral { value } => value,
                            })
                            .collect();
                        self.selectors.push((id.name, keys));
                    }
                    for variant in variants {
                        self.of_pattern(&variant.value);
                    }
                }
                ast::Expression::Inline(ast::InlineExpression::VariableReference { id }) => {
                    self.used.push(id.name)
                }
                ast::Expression::Inline(ast::InlineExpression::Placeable { expression }) => {
                    self.of_expression(expression)
                }
                ast::Expression::Inline(_) => {}
            }
        }
    }

    /// Each message of a language, by id, with its shape.
    fn parsed(index: usize) -> BTreeMap<&'static str, Shape> {
        shipped()[index]
            .resource
            .entries()
            .filter_map(|entry| match entry {
                ast::Entry::Message(message) => {
                    let mut shape = Shape::default();
                    shape.of_pattern(message.value.as_ref()?);
                    shape.used.sort_unstable();
                    shape.used.dedup();
                    Some((message.id.name, shape))
                }
                _ => None,
            })
            .collect()
    }

    /// The CLDR plural category `lang` gives `n`, as a message's choice makes it.
    fn category(lang: &str, n: u64) -> String {
        let source = "probe = { $n ->\n [zero] zero\n [one] one\n [two] two\n [few] few\n [many] many\n *[other] other\n}\n";
        let resource = FluentResource::try_new(source.into()).unwrap();
        let pattern = resource.get_entry(0).and_then(|entry| match entry {
            ast::Entry::Message(message) => message.value.clone(),
            _ => None,
        });
        let mut args = FluentArgs::new();
        args.set("n", n);
        let index = LANGUAGES.iter().position(|l| *l == lang).unwrap();
        let chosen = with_plural_forms(&pattern.unwrap(), &args, &cldr()[index].plurals);
        bundle(lang)
            .format_pattern(&chosen, Some(&args), &mut vec![])
            .into_owned()
    }

    #[test]
    fn every_language_has_every_message_with_its_variables() {
        let english = parsed(0);
        for (index, lang) in LANGUAGES.iter().enumerate() {
            let messages = parsed(index);
            assert_eq!(
                messages.keys().collect::<Vec<_>>(),
                english.keys().collect::<Vec<_>>(),
                "{lang}"
            );
            for (key, shape) in &english {
                assert_eq!(messages[key].used, shape.used, "{lang}.{key}");
            }
        }
    }

    #[test]
    fn plural_categories_are_cldrs() {
        let expected = |lang: &str| match lang {
            "ar" => ["zero", "one", "two", "few", "many", "other", "other"],
            "fr" | "pt-BR" => ["one", "one", "other", "other", "other", "other", "many"],
            "es" => ["other", "one", "other", "other", "other", "other", "many"],
            "ja" | "zh-Hans" | "ko" => ["other"; 7],
            _ => ["other", "one", "other", "other", "other", "other", "other"],
        };
        for lang in LANGUAGES {
            let chosen = COUNTS.map(|n| category(lang, n));
            assert_eq!(chosen, expected(lang), "{lang}");
        }
    }

    /// A language with more than one plural category says every count in a form of its own: each
    /// choice by a number has a variant for every category the language gives the counts, and a
    /// message English varies by a number varies by it there too.
    #[test]
    fn every_count_has_its_own_form() {
        let english = parsed(0);
        for (index, lang) in LANGUAGES.iter().enumerate() {
            let mut categories: Vec<String> = COUNTS.iter().map(|n| category(lang, *n)).collect();
            categories.sort_unstable();
            categories.dedup();
            if categories.len() == 1 {
                continue;
            }
            for (key, shape) in parsed(index) {
                for (variable, keys) in &shape.selectors {
                    if *variable == "unit" || *variable == "day" {
                        continue;
                    }
                    for category in &categories {
                        assert!(
                            keys.contains(&category.as_str()),
                            "{lang}.{key}: no [{category}] variant for ${variable}"
                        );
                    }
                }
                for (variable, _) in &english[key].selectors {
                    assert!(
                        shape.selectors.iter().any(|(v, _)| v == variable),
                        "{lang}.{key} does not vary by ${variable} as English does"
                    );
                }
            }
        }
    }

    /// docs/PAGE.md's table of every sentence with a number, in every language, at each count (and
    /// every kind of wait), rendered here: the test fails when the table is stale, and
    /// `WAITROOM_WRITE_DOCS=1 cargo test --lib sentences` writes it.
    #[test]
    fn the_sentences_in_docs_are_the_ones_rendered() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PAGE.md");
        let (start, end) = ("<!-- sentences:start -->\n", "<!-- sentences:end -->");
        let mut table = String::new();
        let header = |table: &mut String, columns: &[String]| {
            table.push_str(&format!("| language | {} |\n", columns.join(" | ")));
            table.push_str(&format!("|---|{}\n", "---|".repeat(columns.len())));
        };
        for (key, variable) in COUNTED {
            table.push_str(&format!("\n#### `{key}` by `${variable}`\n\n"));
            header(
                &mut table,
                &COUNTS.map(|n| Catalogue::new("en", None).number(n)),
            );
            for lang in LANGUAGES {
                let words = Catalogue::new(lang, None);
                let cells = COUNTS.map(|n| {
                    let said = words.text(key, &[(variable, n.into()), ("chance", 6.9.into())]);
                    format!("{said} *({})*", category(lang, n))
                });
                table.push_str(&format!("| {lang} | {} |\n", cells.join(" | ")));
            }
        }
        let waits = [30, 60, 150, 745, 3_500, 5_400, 9_000, 50_000];
        table.push_str("\n#### `wait` by the wait (`estimate.rounded`)\n\n");
        header(&mut table, &waits.map(|s| format!("{s} s")));
        for lang in LANGUAGES {
            let words = Catalogue::new(lang, None);
            let cells = waits.map(|s| words.wait(Rounded::of(s)));
            table.push_str(&format!("| {lang} | {} |\n", cells.join(" | ")));
        }
        let docs = std::fs::read_to_string(path).unwrap();
        let (before, rest) = docs.split_once(start).expect("PAGE.md marks the table");
        let (_, after) = rest.split_once(end).expect("PAGE.md marks the table's end");
        let current = format!("{before}{start}{table}\n{end}{after}");
        if std::env::var_os("WAITROOM_WRITE_DOCS").is_some() {
            std::fs::write(path, &current).unwrap();
        }
        assert!(
            docs == current,
            "docs/PAGE.md's sentences are stale: WAITROOM_WRITE_DOCS=1 cargo test --lib sentences"
        );
    }

    #[test]
    fn waits_are_said_without_false_precision() {
        let said = |wait_s| Rounded::of(wait_s).english();
        assert_eq!(said(12), "less than a minute");
        assert_eq!(said(61), "about 1 min");
        assert_eq!(said(250), "about 4 min");
        assert_eq!(said(23 * 60 + 10), "about 25 min");
        assert_eq!(said(3_500), "about 1 h");
        assert_eq!(said(3_600), "about 1 h");
        assert_eq!(said(80 * 60 + 100), "about 1 h 20 min");
        assert_eq!(said(2 * 3_600 + 58 * 60), "about 3 h");
        assert_eq!(said(3 * 3_600), "more than 3 hours");
        assert_eq!(said(50 * 3_600), "more than 3 hours");
        // Every wait has its words (none left to an empty string).
        for wait_s in (0..4 * 3_600).step_by(7) {
            assert!(!said(wait_s).is_empty(), "{wait_s}");
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
        assert_eq!(choose(Some("pt-PT"), None), "pt-BR");
        assert_eq!(choose(Some("zh-CN, en;q=0.5"), None), "zh-Hans");
        assert_eq!(choose(Some("zh-Hans-SG"), None), "zh-Hans");
        assert_eq!(choose(Some("zh-TW, ko;q=0.5"), None), "ko");
        assert_eq!(choose(Some("zh-Hant-HK"), None), "en");
    }

    #[test]
    fn messages_fill_in_with_plurals_and_local_numbers() {
        let german = Catalogue::new("de", None);
        assert_eq!(
            german.text("ahead", &[("n", 1.into())]),
            "1 Person vor Ihnen."
        );
        assert_eq!(
            german.text("ahead", &[("n", 12_345.into())]),
            "12.345 Personen vor Ihnen."
        );
        assert_eq!(german.wait(Rounded::of(745)), "etwa 10 Min.");
        assert_eq!(german.direction(), "ltr");
        let arabic = Catalogue::new("ar", None);
        assert_eq!(arabic.direction(), "rtl");
        assert_eq!(arabic.text("ahead", &[("n", 2.into())]), "شخصان أمامك.");
        assert_eq!(arabic.text("ahead", &[("n", 11.into())]), "11 شخصًا أمامك.");
        let english = Catalogue::new("en", None);
        let waits = [5, 75, 745, 3_600, 5_400, 20_000].map(|s| english.wait(Rounded::of(s)));
        assert_eq!(
            waits,
            [
                "less than a minute",
                "about 1 min",
                "about 10 min",
                "about 1 h",
                "about 1 h 30 min",
                "more than 3 hours"
            ]
        );
        assert_eq!(
            english.text("in_draw", &[("n", 4.into()), ("chance", 6.9.into())]),
            "You are in the draw: each release lets some of those waiting through, picked at random, so when you arrived does not matter. Waiting: 4. Your chance at the next draw: 6.9 %."
        );
        let own: BTreeMap<String, String> = [
            ("hint".to_owned(), "Bitte warten.".to_owned()),
            ("ahead".to_owned(), "Noch { $n } vor Ihnen.".to_owned()),
        ]
        .into();
        let ours = Catalogue::new("de", Some(&own));
        assert_eq!(ours.text("hint", &[]), "Bitte warten.");
        assert_eq!(ours.text("ahead", &[("n", 3.into())]), "Noch 3 vor Ihnen.");
        assert_eq!(ours.messages()["hint"], "Bitte warten.");
        assert_eq!(ours.text("leave", &[]), "Schlange verlassen");
        assert!(!ours.script_json().contains('<'));
        assert!(check_own_text("hint", "Wait { here").is_err());
        assert!(check_own_text("no_such_message", "x").is_err());
    }
}
