//! Writing scalars: plain-safety checks and quoting for YAML and JSON.

/// Characters that are not printable in YAML (they need an escape in a double-quoted scalar).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

/// Words that a YAML 1.1 or 1.2 loader would not read as a string.
fn is_reserved(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "null"
            | "~"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "<<"
            | "="
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    )
}

/// Whether a plain scalar would look like a number (or a date, or a sexagesimal) to some loader.
fn looks_numeric(s: &str) -> bool {
    let t = s.trim_start_matches(['+', '-']);
    let mut chars = t.chars();
    match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('.') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// Whether `s` can be written as a plain scalar (in flow context when `flow`) and read back as
/// the same string.
pub(crate) fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return false;
    }
    if s.chars().any(needs_escape) {
        return false;
    }
    if "[]{}#&*!|>'\"%@`,".contains(first) {
        return false;
    }
    if matches!(first, '-' | '?' | ':') && s.chars().nth(1).is_none_or(|c| c == ' ') {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if flow && s.chars().any(|c| ",[]{}:".contains(c)) {
        return false;
    }
    !(is_reserved(s) || looks_numeric(s))
}

/// `s` as a YAML double-quoted scalar.
pub(crate) fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02X}"));
                } else {
                    out.push_str(&format!("\\u{code:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` as a YAML single-quoted scalar, when it can be written on one line without escapes.
pub(crate) fn single_quoted(s: &str) -> Option<String> {
    if s.chars().any(|c| c != '\t' && needs_escape(c)) {
        return None;
    }
    Some(format!("'{}'", s.replace('\'', "''")))
}

/// `s` as a plain scalar when safe, else double-quoted.
pub(crate) fn yaml_scalar(s: &str, flow: bool) -> String {
    if plain_ok(s, flow) {
        s.to_owned()
    } else {
        double_quoted(s)
    }
}

/// `s` as a JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_safety() {
        for ok in [
            "abc",
            "my-bucket",
            "a/b/c.zip",
            "a:b",
            "foo bar",
            "-x",
            "A.B",
        ] {
            assert!(plain_ok(ok, false), "{ok}");
        }
        for bad in [
            "", " a", "a ", "true", "No", "null", "~", "123", "1.5", "-1", ".5", "0x1F", "a: b",
            "a #b", "a:", "#a", "&a", "*a", "!a", "|", ">", "'a", "\"a", "%a", "@a", "`a", "- a",
            "-", "---", "a\nb", "a\tb", "[a", "{a", ",a", "?",
        ] {
            assert!(!plain_ok(bad, false), "{bad:?}");
        }
        assert!(plain_ok("a,b", false));
        assert!(!plain_ok("a,b", true));
        assert!(!plain_ok("a:b", true));
    }

    #[test]
    fn quoting() {
        assert_eq!(double_quoted("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
        assert_eq!(single_quoted("it's").as_deref(), Some("'it''s'"));
        assert_eq!(single_quoted("a\nb"), None);
        assert_eq!(json_string("a\"\u{1}"), "\"a\\\"\\u0001\"");
    }
}
