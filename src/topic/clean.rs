//! Clean protocol strings of the 1.0 dialect (protocol.md B-T-1): no C0, DEL, C1 or Unicode
//! format (`Cf`) character. Valid UTF-8 is given by `&str`; the decoders refuse the rest.

use icu_properties::props::GeneralCategory;
use icu_properties::CodePointMapData;

/// True when `value` holds no C0 (U+0000–U+001F), DEL, C1 (U+0080–U+009F) nor `Cf` character.
///
/// `Cf` comes from the Unicode data of `icu_properties` (Unicode 17 or later), so code points
/// assigned to `Cf` by later versions are refused too, as B-T-1 allows.
pub fn is_clean(value: &str) -> bool {
    // ASCII first: most protocol strings are URLs, and this check is a byte scan.
    if value.is_ascii() {
        return !value.bytes().any(|b| b < 0x20 || b == 0x7F);
    }
    let categories = CodePointMapData::<GeneralCategory>::new();
    !value.chars().any(|c| {
        c < '\u{20}'
            || ('\u{7F}'..='\u{9F}').contains(&c)
            || categories.get(c) == GeneralCategory::Format
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // B-T-1
    #[test]
    fn control_and_format_characters_are_refused() {
        for bad in [
            "a\u{0}b",
            "\t",
            "line\n",
            "\u{7F}",
            "\u{80}",
            "\u{9F}",
            "soft\u{AD}hyphen",
            "\u{200B}",
            "\u{200E}",
            "\u{202E}evil",
            "\u{2066}",
            "\u{FEFF}",
            "\u{FFF9}",
            "\u{13430}",
            "\u{1343F}",
            "\u{E0001}",
            "\u{E007F}",
            "\u{0600}",
            "\u{0890}",
            "\u{110BD}",
        ] {
            assert!(!is_clean(bad), "{bad:?}");
        }
    }

    // B-T-1: RTL letters, other scripts, emoji and private-use characters stay valid.
    #[test]
    fn ordinary_text_is_clean() {
        for good in [
            "",
            "https://example.com/books/1",
            "مرحبا",
            "שלום",
            "日本語",
            "é",
            "\u{A0}",
            "\u{1F600}",
            "\u{E000}",
        ] {
            assert!(is_clean(good), "{good:?}");
        }
    }
}
