//! RFC 6570 URI templates as the reference hub reads them (protocol.md A-SEL-2, A-SEL-3):
//! a selector is a template only when it parses; it then compiles to a fully anchored regex.

const UNRESERVED: &str = r"\-.0-9A-Z_a-z~";
const RESERVED: &str = r":/?#\[\]@!$&'()*+,;=";
const PCT: &str = "%[0-9A-Fa-f]{2}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Simple,
    Reserved,
    Fragment,
    Label,
    Path,
    PathParam,
    Query,
    QueryContinuation,
}

impl Operator {
    fn from_char(c: char) -> Option<Self> {
        Some(match c {
            '+' => Self::Reserved,
            '#' => Self::Fragment,
            '.' => Self::Label,
            '/' => Self::Path,
            ';' => Self::PathParam,
            '?' => Self::Query,
            '&' => Self::QueryContinuation,
            _ => return None,
        })
    }

    /// (leading character, separator between values)
    fn punctuation(self) -> (&'static str, &'static str) {
        match self {
            Self::Simple | Self::Reserved => ("", ","),
            Self::Fragment => ("#", ","),
            Self::Label => (r"\.", r"\."),
            Self::Path => ("/", "/"),
            Self::PathParam => (";", ";"),
            Self::Query => (r"\?", "&"),
            Self::QueryContinuation => ("&", "&"),
        }
    }

    /// The character class of one value character, `=` allowed or not.
    fn class(self, allow_equals: bool) -> String {
        let mut chars = String::from(UNRESERVED);
        match self {
            Self::Reserved | Self::Fragment => chars.push_str(RESERVED),
            Self::PathParam | Self::Query | Self::QueryContinuation => chars.push_str(",="),
            Self::Simple | Self::Label | Self::Path => {
                chars.push(',');
                if allow_equals {
                    chars.push('=');
                }
            }
        }
        format!("(?:[{chars}]|{PCT})")
    }
}

struct Expression {
    operator: Operator,
    /// `true` for each variable that is exploded (`*`).
    explodes: Vec<bool>,
}

enum Part {
    Literal(String),
    Expression(Expression),
}

/// A template cut for matching: the literal text before its first expression and after its last,
/// compared as bytes, and the anchored regex source of what lies between them. A literal compiles
/// to some 50 bytes of automaton per byte, so keeping the outer literals out of the regex keeps a
/// template's compiled size near that of its expressions, and templates that differ only there
/// (`https://example.com/books/{id}`, `https://example.com/users/{id}`) share one regex.
pub(super) struct Split {
    pub prefix: String,
    pub middle: String,
    pub suffix: String,
    /// The literal texts of the inner part, in order: what an index checks before the regex
    /// (R-TEMPLATES).
    pub pieces: Vec<String>,
}

/// `selector` cut as `Split` describes; `None` when it is not a valid URI template.
pub(super) fn split(selector: &str) -> Option<Split> {
    let mut parts = parse(selector)?;
    let suffix = match parts.last() {
        Some(Part::Literal(_)) => literal_text(parts.pop()),
        _ => String::new(),
    };
    let prefix = match parts.first() {
        Some(Part::Literal(_)) => literal_text(Some(parts.remove(0))),
        _ => String::new(),
    };
    let pieces = parts
        .iter()
        .filter_map(|part| match part {
            Part::Literal(text) => Some(text.clone()),
            Part::Expression(_) => None,
        })
        .collect();
    Some(Split {
        prefix,
        middle: to_regex(&parts),
        suffix,
        pieces,
    })
}

/// Whether `middle` (a topic without the template's outer literals) holds the template's inner
/// literal `pieces`, in order and without overlap, as every match does: a cheap test that rules
/// out most topics before the regex.
pub(super) fn holds_in_order<S: AsRef<str>>(middle: &str, pieces: &[S]) -> bool {
    let mut rest = middle;
    for piece in pieces {
        let piece = piece.as_ref();
        let Some(at) = rest.find(piece) else {
            return false;
        };
        rest = &rest[at + piece.len()..];
    }
    true
}

/// The longest path segment every match holds whole: a run without `/` that an inner piece has
/// between two `/`, or that the suffix has after a `/` (then closed by the next `/` or by the end
/// of the topic). A matching topic contains `/segment/` or ends with `/segment`, so `segment` is
/// one of the parts after its slashes.
pub(super) fn segment<'a, S: AsRef<str>>(pieces: &'a [S], suffix: &'a str) -> Option<&'a str> {
    let inner = pieces.iter().map(|piece| (piece.as_ref(), false));
    inner
        .chain(std::iter::once((suffix, true)))
        .flat_map(|(text, at_end)| {
            let runs: Vec<&str> = text.split('/').collect();
            let closed = runs.len().saturating_sub(1);
            // Runs after a `/`: closed by the next `/`, or by the end of the topic.
            runs.into_iter()
                .enumerate()
                .skip(1)
                .filter(move |(run, _)| *run < closed || at_end)
                .map(|(_, run)| run)
        })
        .filter(|run| !run.is_empty())
        .max_by_key(|run| run.len())
}

fn literal_text(part: Option<Part>) -> String {
    match part {
        Some(Part::Literal(text)) => text,
        _ => String::new(),
    }
}

/// Parses `selector` as a URI template; `None` when it is not one (then it is an exact string).
fn parse(selector: &str) -> Option<Vec<Part>> {
    if !selector.contains('{') {
        return None;
    }
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = selector.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        match c {
            '{' => {
                let close = selector[index..].find('}')? + index;
                let expression = parse_expression(&selector[index + 1..close])?;
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Expression(expression));
                while chars.peek().is_some_and(|(i, _)| *i <= close) {
                    chars.next();
                }
            }
            '%' => {
                let hex = selector.get(index + 1..index + 3)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                literal.push('%');
                literal.push_str(hex);
                chars.next();
                chars.next();
            }
            c if is_literal_char(c) => literal.push(c),
            _ => return None,
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Some(parts)
}

fn is_literal_char(c: char) -> bool {
    match c {
        '!' | '#' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | '-' | '.' | '/' | ':'
        | ';' | '=' | '?' | '@' | '[' | ']' | '_' | '~' => true,
        c if c.is_ascii_alphanumeric() => true,
        c => is_ucschar_or_iprivate(c as u32),
    }
}

fn is_ucschar_or_iprivate(cp: u32) -> bool {
    let plane_offset = cp & 0xFFFF;
    match cp {
        0xA0..=0xD7FF | 0xE000..=0xFDCF | 0xFDF0..=0xFFEF => true,
        0xE1000..=0xEFFFD => true,
        0x10000..=0x10FFFF => {
            let plane = cp >> 16;
            plane != 14 && plane_offset <= 0xFFFD
        }
        _ => false,
    }
}

fn parse_expression(body: &str) -> Option<Expression> {
    let mut rest = body;
    let mut operator = Operator::Simple;
    if let Some(first) = rest.chars().next() {
        if let Some(op) = Operator::from_char(first) {
            operator = op;
            rest = &rest[1..];
        } else if matches!(first, '=' | ',' | '!' | '@' | '|') {
            return None;
        }
    }
    let explodes = rest
        .split(',')
        .map(parse_varspec)
        .collect::<Option<Vec<bool>>>()?;
    Some(Expression { operator, explodes })
}

/// Parses one variable spec and returns whether it is exploded.
fn parse_varspec(spec: &str) -> Option<bool> {
    let (name, exploded) = if let Some(name) = spec.strip_suffix('*') {
        (name, true)
    } else if let Some((name, prefix)) = spec.split_once(':') {
        let valid = (1..=4).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_digit())
            && !prefix.starts_with('0');
        if !valid {
            return None;
        }
        (name, false)
    } else {
        (spec, false)
    };
    valid_varname(name).then_some(exploded)
}

fn valid_varname(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes[0] == b'.' || bytes[bytes.len() - 1] == b'.' {
        return false;
    }
    let mut i = 0;
    let mut previous_dot = false;
    while i < bytes.len() {
        match bytes[i] {
            b'.' if previous_dot => return false,
            b'.' => previous_dot = true,
            b'%' => {
                let pair = bytes.get(i + 1..i + 3);
                if !pair.is_some_and(|p| p.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 2;
                previous_dot = false;
            }
            b if b.is_ascii_alphanumeric() || b == b'_' => previous_dot = false,
            _ => return false,
        }
        i += 1;
    }
    true
}

/// The anchored regex source for a parsed template (protocol.md A-SEL-3).
fn to_regex(parts: &[Part]) -> String {
    let mut pattern = String::from("^");
    for part in parts {
        match part {
            Part::Literal(text) => {
                pattern.push_str("(?:");
                pattern.push_str(&regex::escape(text));
                pattern.push(')');
            }
            Part::Expression(expression) => pattern.push_str(&expression_regex(expression)),
        }
    }
    pattern.push('$');
    pattern
}

fn expression_regex(expression: &Expression) -> String {
    let operator = expression.operator;
    let (leading, separator) = operator.punctuation();
    let any_exploded = expression.explodes.iter().any(|e| *e);
    let first = operator.class(expression.explodes[0]);
    let mut pattern = format!("(?:{leading}{first}*");
    let count = expression.explodes.len();
    if count > 1 || any_exploded {
        let repeated = operator.class(any_exploded);
        let times = if any_exploded {
            "*".to_string()
        } else {
            format!("{{0,{}}}", count - 1)
        };
        pattern.push_str(&format!("(?:{separator}{repeated}*){times}"));
    }
    pattern.push_str(")?");
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiles(selector: &str) -> bool {
        parse(selector).is_some()
    }

    #[test]
    fn plain_strings_and_invalid_templates_are_not_templates() {
        assert!(!compiles("https://example.com/books/1"));
        assert!(!compiles("https://example.com/hub?topic=faulty{iri"));
        assert!(!compiles("https://example.com/{}"));
        assert!(!compiles("https://example.com/{=x}"));
        assert!(!compiles("https://example.com/{x:3*}"));
        assert!(!compiles("https://example.com/{x:0}"));
        assert!(!compiles("https://example.com/{x:10000}"));
        assert!(!compiles("https://example.com/a b/{x}"));
        assert!(!compiles("https://example.com/}{x}"));
        assert!(!compiles("https://example.com/{x.}"));
        assert!(!compiles("https://example.com/{x..y}"));
        assert!(!compiles("https://example.com/%zz/{x}"));
        assert!(!compiles("https://example.com/{x,}"));
    }

    #[test]
    fn inner_pieces_and_segments_are_what_every_match_holds() {
        let users = split("https://example.com/users/{id}/alice-42/{x}").expect("template");
        assert_eq!(users.prefix, "https://example.com/users/");
        assert_eq!(users.pieces, ["/alice-42/"]);
        assert_eq!(users.suffix, "");
        assert_eq!(segment(&users.pieces, &users.suffix), Some("alice-42"));
        assert!(holds_in_order("7/alice-42/inbox", &users.pieces));
        assert!(!holds_in_order("7/bob/inbox", &users.pieces));

        let ending = split("{a}.x/{b}/y/{c}/last").expect("template");
        assert_eq!(ending.prefix, "");
        assert_eq!(ending.pieces, [".x/", "/y/"]);
        assert_eq!(ending.suffix, "/last");
        // `x` is not preceded by a `/` in the literal text; `y` and `last` are whole segments.
        assert_eq!(segment(&ending.pieces, &ending.suffix), Some("last"));
        assert!(!holds_in_order("1/y/2.x/", &ending.pieces), "out of order");
        let none = split("https://e/{a}/x{b}").expect("template");
        assert_eq!(segment(&none.pieces, &none.suffix), None);
    }

    #[test]
    fn rfc6570_levels_one_to_four_parse() {
        for selector in [
            "https://example.com/{id}",
            "https://example.com/{+path}",
            "https://example.com/books{/seg*}",
            "https://example.com/search{?q,r}",
            "https://example.com/file{.ext}",
            "https://example.com/x{;p}",
            "https://example.com/page{#frag}",
            "https://example.com/{var:3}",
            "https://example.com/{a.b%20c}",
            "https://exämple.com/{id}",
        ] {
            assert!(compiles(selector), "{selector}");
        }
    }

    #[test]
    fn outer_literals_are_cut_off_the_regex() {
        let cut = split("https://example.com/books/{id}/%41x").expect("template");
        assert_eq!(cut.prefix, "https://example.com/books/");
        assert_eq!(cut.suffix, "/%41x");
        assert_eq!(cut.middle, r"^(?:(?:[\-.0-9A-Z_a-z~,]|%[0-9A-Fa-f]{2})*)?$");
        let inner = split("{a}/x/{b}").expect("template");
        assert_eq!((inner.prefix.as_str(), inner.suffix.as_str()), ("", ""));
        assert!(inner.middle.contains("(?:/x/)"), "{}", inner.middle);
        assert!(split("https://example.com/{").is_none());
    }

    #[test]
    fn simple_expression_matches_reference_regex() {
        let parts = parse("https://example.com/books/{id}").expect("template");
        assert_eq!(
            to_regex(&parts),
            r"^(?:https://example\.com/books/)(?:(?:[\-.0-9A-Z_a-z~,]|%[0-9A-Fa-f]{2})*)?$"
        );
    }
}
