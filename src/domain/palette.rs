//! The waiting page's colours, made readable: from an event's branding (any of accent, background
//! and text colour) a full palette whose text stands out from what it is written on by at least the
//! WCAG AA contrast for body text, 4.5:1. A dark background gets a dark card and light text;
//! a text colour that cannot be read on its background is refused when the settings are saved.

use serde::Serialize;

/// WCAG 2 AA: the least contrast for body text.
pub const MIN_TEXT_CONTRAST: f64 = 4.5;
/// WCAG 2 AA for large text and the parts of controls (the accent on the card).
const MIN_UI_CONTRAST: f64 = 3.0;

const DEFAULT_BACKGROUND: Rgb = Rgb(0xf5, 0xf7, 0xfb);
const DEFAULT_ACCENT: Rgb = Rgb(0x1d, 0x4e, 0xd8);
const DARK_TEXT: Rgb = Rgb(0x11, 0x18, 0x27);
const LIGHT_TEXT: Rgb = Rgb(0xf9, 0xfa, 0xfb);
const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rgb` or `#rrggbb`.
    pub fn parse(raw: &str) -> Option<Self> {
        let hex = raw.strip_prefix('#')?;
        if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).ok();
        let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        match hex.len() {
            3 => Some(Rgb(digit(0)? * 17, digit(1)? * 17, digit(2)? * 17)),
            6 => Some(Rgb(pair(0)?, pair(2)?, pair(4)?)),
            _ => None,
        }
    }

    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// Relative luminance (WCAG 2).
    fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2)
    }

    fn is_dark(self) -> bool {
        self.luminance() < 0.18
    }

    /// `self` moved `share` of the way towards `other`.
    fn towards(self, other: Rgb, share: f64) -> Rgb {
        let mix =
            |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * share).round() as u8;
        Rgb(
            mix(self.0, other.0),
            mix(self.1, other.1),
            mix(self.2, other.2),
        )
    }
}

/// How much two colours stand apart, from 1 (none) to 21 (black on white).
pub fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (a.luminance(), b.luminance());
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The colours the page uses, as CSS colours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Palette {
    pub background: String,
    /// What the page's content sits on.
    pub card: String,
    pub text: String,
    /// Secondary text: labels, hints.
    pub muted: String,
    pub accent: String,
    /// Text on the accent (the main button).
    pub on_accent: String,
}

/// The text colour that reads best on `surface`, of the two the page uses.
fn readable_on(surface: Rgb) -> Rgb {
    if contrast(DARK_TEXT, surface) >= contrast(LIGHT_TEXT, surface) {
        DARK_TEXT
    } else {
        LIGHT_TEXT
    }
}

/// The palette for a branding; `Err` says why the text would not be readable.
pub fn palette(
    accent: Option<Rgb>,
    background: Option<Rgb>,
    text: Option<Rgb>,
) -> Result<Palette, String> {
    let background = background.unwrap_or(DEFAULT_BACKGROUND);
    // A card a little lighter than a dark background; white on a light one.
    let card = if background.is_dark() {
        background.towards(WHITE, 0.08)
    } else {
        WHITE
    };
    let text = match text {
        Some(text) => {
            let ratio = contrast(text, card).min(contrast(text, background));
            if ratio < MIN_TEXT_CONTRAST {
                return Err(format!(
                    "{} on {} stands apart only {ratio:.1}:1; text needs at least {MIN_TEXT_CONTRAST}:1 \
                     (leave text_color out for a readable one)",
                    text.hex(),
                    card.hex()
                ));
            }
            text
        }
        None => readable_on(card),
    };
    let muted = text.towards(card, 0.25);
    let readable = |c: Rgb| contrast(c, card).min(contrast(c, background)) >= MIN_TEXT_CONTRAST;
    let muted = if readable(muted) { muted } else { text };
    // An accent that does not stand out from the card is darkened or lightened until it does.
    let mut accent = accent.unwrap_or(DEFAULT_ACCENT);
    let towards = if card.is_dark() { WHITE } else { Rgb(0, 0, 0) };
    for _ in 0..10 {
        if contrast(accent, card) >= MIN_UI_CONTRAST {
            break;
        }
        accent = accent.towards(towards, 0.2);
    }
    Ok(Palette {
        background: background.hex(),
        card: card.hex(),
        text: text.hex(),
        muted: muted.hex(),
        accent: accent.hex(),
        on_accent: readable_on(accent).hex(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_follows_wcag() {
        assert!((contrast(Rgb(0, 0, 0), WHITE) - 21.0).abs() < 0.01);
        assert!((contrast(WHITE, WHITE) - 1.0).abs() < 1e-9);
        // The WCAG example: #777 on white is just under 4.5:1.
        let grey = Rgb::parse("#777").unwrap();
        assert!((contrast(grey, WHITE) - 4.48).abs() < 0.01);
        assert_eq!(Rgb::parse("#1d4ed8"), Some(Rgb(0x1d, 0x4e, 0xd8)));
        assert_eq!(Rgb::parse("#abz"), None);
    }

    #[test]
    fn every_branding_gives_readable_text_or_is_refused() {
        let dark = palette(None, Rgb::parse("#0b0b14"), None).unwrap();
        assert_ne!(dark.card, "#ffffff", "a dark page gets a dark card");
        let parse = |c: &str| Rgb::parse(c).unwrap();
        for p in [
            &dark,
            &palette(None, None, None).unwrap(),
            &palette(Rgb::parse("#ffee00"), Rgb::parse("#ffffff"), None).unwrap(),
            &palette(
                Rgb::parse("#111111"),
                Rgb::parse("#000000"),
                Rgb::parse("#eeeeee"),
            )
            .unwrap(),
        ] {
            for surface in [&p.card, &p.background] {
                for text in [&p.text, &p.muted] {
                    let ratio = contrast(parse(text), parse(surface));
                    assert!(
                        ratio >= MIN_TEXT_CONTRAST,
                        "{text} on {surface}: {ratio} in {p:?}"
                    );
                }
            }
            assert!(
                contrast(parse(&p.accent), parse(&p.card)) >= MIN_UI_CONTRAST,
                "{p:?}"
            );
            assert!(
                contrast(parse(&p.on_accent), parse(&p.accent)) >= MIN_UI_CONTRAST,
                "{p:?}"
            );
        }
        let refused = palette(None, Rgb::parse("#111111"), Rgb::parse("#222222")).unwrap_err();
        assert!(refused.contains("4.5:1"), "{refused}");
    }
}
