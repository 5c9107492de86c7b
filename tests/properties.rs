//! Property tests of the library's pure building blocks (issue 6, "Production behaviour"):
//! form decoding (X-13, C-HARD-3), topic selectors (A-SEL-1…5, C-HARD-7), SSE framing
//! (A-SSE-4, A-SSE-5, C-HARD-1), id/type validation (A-PUB-7, A-PUB-8, C-HARD-1, C-HARD-5),
//! retry parsing (A-PUB-9), the reserved namespace (A-PUB-13) and token extraction (X-6,
//! A-AUTH-2…5). Only the public API of the `quicksilver` library is used.

use proptest::prelude::*;
use proptest::sample::select;

use quicksilver::auth::{extract, Source, TokenSources};
use quicksilver::event::{encode, parse_retry, validate_id, validate_type, Draft, Framing, Update};
use quicksilver::form::{decode_component, escape_component, parse};
use quicksilver::topic::reserved::{is_reserved, refusal};
use quicksilver::topic::{has_control_chars, Matcher, Selector};

const CASES: u32 = 400;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

/// Characters that matter somewhere: template syntax, form syntax, line endings, controls
/// (C0, DEL, C1), bidi and zero-width characters, non-ASCII of every UTF-8 length.
const INTERESTING: &[char] = &[
    'a',
    'b',
    'z',
    'A',
    'Z',
    '0',
    '7',
    '9',
    'F',
    'f',
    '-',
    '.',
    '_',
    '~',
    '{',
    '}',
    '%',
    '+',
    '#',
    '/',
    ';',
    '?',
    '&',
    '=',
    ',',
    '*',
    ':',
    '!',
    '@',
    '|',
    '$',
    '\'',
    '(',
    ')',
    '[',
    ']',
    ' ',
    '"',
    '\\',
    '<',
    '>',
    '^',
    '`',
    '\0',
    '\u{1}',
    '\t',
    '\n',
    '\r',
    '\u{1b}',
    '\u{1f}',
    '\u{7f}',
    '\u{80}',
    '\u{85}',
    '\u{9f}',
    '\u{a0}',
    'é',
    '\u{200b}',
    '\u{200d}',
    '\u{202e}',
    '\u{2028}',
    '\u{2066}',
    '\u{feff}',
    '\u{fffd}',
    '€',
    '\u{e000}',
    '😀',
    '\u{10ffff}',
];

/// Strings over `INTERESTING`, or fully arbitrary strings.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(select(INTERESTING), 0..24)
            .prop_map(|cs| cs.into_iter().collect::<String>()),
        1 => any::<String>(),
    ]
}

/// Arbitrary bytes, with a bias towards `%`, `+`, `&`, `=`, hex digits and UTF-8 lead bytes.
fn form_bytes() -> impl Strategy<Value = Vec<u8>> {
    let interesting = select(vec![
        b'%', b'+', b'&', b'=', b';', b'a', b'F', b'0', b'9', b'C', b'3', b'E', b'2', 0xC3, 0xA9,
        0xE2, 0x82, 0xAC, 0xFF, 0xF0, 0x80, b' ', 0,
    ]);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(interesting, 0..64),
    ]
}

/// Template-like selectors: URL-ish literals mixed with (valid and invalid) expressions.
fn template_like() -> impl Strategy<Value = String> {
    let literal = proptest::collection::vec(
        select(vec![
            "https://example.com/",
            "/",
            "books",
            "a",
            "%2F",
            "%zz",
            ".",
            "-",
            "é",
            " ",
            "?",
            "#",
            "}",
            "{",
            "*",
        ]),
        0..4,
    )
    .prop_map(|parts| parts.concat());
    let op = select(vec![
        "", "+", "#", ".", "/", ";", "?", "&", "=", ",", "!", "@", "|",
    ]);
    let var = select(vec![
        "id", "x", "a.b", "a..b", ".a", "a.", "%41", "%4", "v*", "v:3", "v:0", "v:10000", "v:3*",
        "", "_", "é",
    ]);
    let vars = proptest::collection::vec(var, 0..3).prop_map(|v| v.join(","));
    let expr = (op, vars, any::<bool>())
        .prop_map(|(o, v, closed)| format!("{{{o}{v}{}", if closed { "}" } else { "" }));
    proptest::collection::vec((literal, expr), 1..4).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(l, e)| format!("{l}{e}"))
            .collect::<String>()
    })
}

/// Data for SSE encoding: pieces including every kind of line ending and field look-alikes.
fn sse_data() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => select(vec![
            "\n", "\r", "\r\n", "\n\n", "\r\r", "\n\r", ":", " ", "data: x", "id: forged",
            "event: evil", "retry: 1", ": comment", "\0", "\u{85}", "\u{2028}", "\u{feff}",
            "é", "😀", "hello", "",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

/// Strings that contain no C0 character and no DEL (what `validate_id`/`validate_type` allow),
/// biased towards C1, bidi, zero-width characters, `:` and spaces.
fn field_value() -> impl Strategy<Value = String> {
    any_text().prop_map(|s| {
        s.chars()
            .filter(|c| !(*c < ' ' || *c == '\u{7f}'))
            .collect()
    })
}

// ---------------------------------------------------------------------------------------
// Form decoding (X-13, C-HARD-3)
// ---------------------------------------------------------------------------------------

/// An independent WHATWG percent-decoder (`+` → space, `%HH` → byte, bad `%` literal).
fn reference_decode(input: &[u8]) -> Option<String> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%'
            && i + 2 < input.len()
            && hex(input[i + 1]).is_some()
            && hex(input[i + 2]).is_some()
        {
            out.push(hex(input[i + 1]).unwrap() * 16 + hex(input[i + 2]).unwrap());
            i += 2;
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

proptest! {
    #![proptest_config(config())]

    /// X-13: arbitrary bytes never panic, and `parse` agrees with a reference decoder:
    /// split on `&` (empty parts skipped), first `=` splits, each side decoded strictly.
    #[test]
    fn x_13_form_parse_matches_reference(input in form_bytes()) {
        let got = parse(&input);
        let expected: Option<Vec<(String, String)>> = input
            .split(|b| *b == b'&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (n, v) = match p.iter().position(|b| *b == b'=') {
                    Some(eq) => (&p[..eq], &p[eq + 1..]),
                    None => (p, &p[p.len()..]),
                };
                Some((reference_decode(n)?, reference_decode(v)?))
            })
            .collect();
        prop_assert_eq!(got.ok(), expected);
    }

    /// X-13, C-HARD-3: `decode_component` never panics; it fails exactly when the decoded
    /// bytes are not UTF-8.
    #[test]
    fn x_13_decode_component_strict_utf8(input in form_bytes()) {
        prop_assert_eq!(decode_component(&input).ok(), reference_decode(&input));
    }

    /// X-13: input without `%` decodes successfully iff it is UTF-8 (only escapes can
    /// produce bytes that were not in the input).
    #[test]
    fn x_13_no_escape_means_utf8_in_utf8_out(s in any_text()) {
        let raw = s.replace('%', "");
        let decoded = decode_component(raw.as_bytes());
        prop_assert_eq!(decoded, Ok(raw.replace('+', " ")));
    }

    /// X-13, A-SUBS-4: (name, value) pairs round-trip through `escape_component` + `parse`.
    #[test]
    fn x_13_escape_parse_round_trip(
        pairs in proptest::collection::vec((any_text(), any_text()), 0..8)
    ) {
        let encoded = pairs
            .iter()
            .map(|(n, v)| format!("{}={}", escape_component(n), escape_component(v)))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert!(encoded.is_ascii());
        prop_assert_eq!(parse(encoded.as_bytes()), Ok(pairs));
    }

    /// X-13: a single component round-trips too, and escaping only emits the form alphabet.
    #[test]
    fn x_13_escape_component_alphabet(s in any_text()) {
        let e = escape_component(&s);
        prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'%')));
        prop_assert_eq!(decode_component(e.as_bytes()), Ok(s));
    }
}

// ---------------------------------------------------------------------------------------
// Topic selectors (A-SEL-1 … A-SEL-5, C-HARD-7)
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// A-SEL-1, A-SEL-2: arbitrary selectors and topics never panic; matching is
    /// deterministic (the cached answer equals the first one).
    #[test]
    fn a_sel_1_arbitrary_selectors_never_panic(
        sel in prop_oneof![any_text(), template_like()],
        topic in prop_oneof![any_text(), template_like()],
    ) {
        let m = Matcher::default();
        let s = m.selector(&sel);
        prop_assert_eq!(s.source(), sel.as_str());
        let first = m.matches(&s, &topic);
        prop_assert_eq!(m.matches(&s, &topic), first);
        let again = m.selector(&sel);
        prop_assert_eq!(m.matches(&again, &topic), first);
    }

    /// A-SEL-1 step 2: every selector matches itself (so a template matches itself, and an
    /// invalid template falls back to an exact match of its own text).
    #[test]
    fn a_sel_1_selector_matches_itself(sel in prop_oneof![any_text(), template_like()]) {
        let m = Matcher::default();
        let s = m.selector(&sel);
        prop_assert!(m.matches(&s, &sel), "{:?} does not match itself ({:?})", sel, s);
    }

    /// A-SEL-1 step 1: `*` matches everything, including the empty string.
    #[test]
    fn a_sel_1_star_matches_everything(topic in prop_oneof![any_text(), template_like()]) {
        let m = Matcher::default();
        let s = m.selector("*");
        prop_assert!(matches!(s, Selector::Any));
        prop_assert!(m.matches(&s, &topic));
    }

    /// A-SEL-1, A-SEL-2: a brace-free selector (other than `*`) is exact: it matches a topic
    /// iff the two are byte-equal (no normalisation, case-sensitive, `*` not special inside).
    #[test]
    fn a_sel_1_brace_free_selector_is_exact(
        sel in any_text(),
        other in any_text(),
        how in 0u8..6,
    ) {
        let sel = sel.replace('{', "");
        prop_assume!(sel != "*");
        let topic = match how {
            0 => sel.clone(),
            1 => format!("{sel}{other}"),
            2 => format!("{other}{sel}"),
            3 => sel.to_uppercase(),
            4 => sel.chars().take(sel.chars().count().saturating_sub(1)).collect(),
            _ => other,
        };
        let m = Matcher::default();
        let s = m.selector(&sel);
        prop_assert!(matches!(s, Selector::Exact(_)));
        prop_assert_eq!(m.matches(&s, &topic), topic == sel);
    }

    /// A-SEL-5: the bounded caches never change an answer: a matcher whose caches hold one
    /// entry (constant eviction) agrees with a fresh matcher on every (selector, topic).
    #[test]
    fn a_sel_5_cache_eviction_does_not_change_results(
        sels in proptest::collection::vec(prop_oneof![any_text(), template_like()], 1..6),
        topics in proptest::collection::vec(prop_oneof![any_text(), template_like()], 1..6),
    ) {
        let tiny = Matcher::with_budgets(600, 600, 600);
        for sel in &sels {
            for topic in topics.iter().chain(sels.iter()) {
                let fresh = Matcher::default();
                let expected = fresh.matches(&fresh.selector(sel), topic);
                prop_assert_eq!(tiny.matches(&tiny.selector(sel), topic), expected,
                    "selector {:?} topic {:?}", sel, topic);
            }
        }
    }

    /// A-SEL-3, A-SEL-4: `https://example.com/books/{id}` matches the prefix plus any run of
    /// unreserved characters, `,` and `%HH` triplets, and nothing containing `/`, `?`, raw
    /// non-ASCII or anything after/before (the pattern is anchored).
    #[test]
    fn a_sel_3_simple_template_is_anchored(
        value in proptest::collection::vec(
            select(vec!["a", "Z", "0", "-", ".", "_", "~", ",", "%20", "%2f", "%C3%A9"]),
            0..8,
        ).prop_map(|v| v.concat()),
        bad in select(vec!["/", "?", "é", " ", "=", "#", "%Z", "%G0", "{", "}"]),
        pos in 0usize..3,
    ) {
        let m = Matcher::default();
        let s = m.selector("https://example.com/books/{id}");
        prop_assert!(matches!(s, Selector::Template(_)));
        let good = format!("https://example.com/books/{value}");
        prop_assert!(m.matches(&s, &good), "{}", good);
        let broken = match pos {
            0 => format!("{good}{bad}"),
            1 => format!("https://example.com/books/{bad}{value}"),
            _ => format!("x{good}"),
        };
        prop_assert!(!m.matches(&s, &broken), "{}", broken);
    }
}

// ---------------------------------------------------------------------------------------
// SSE framing (A-SSE-4, A-SSE-5, C-HARD-1)
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
struct SseEvent {
    event_type: String,
    data: String,
    last_event_id: String,
}

#[derive(Debug, Default)]
struct SseParse {
    events: Vec<SseEvent>,
    retry: Option<u64>,
    /// Lines of the stream, as the parser split them (for the blank-line check).
    lines: Vec<String>,
}

/// The WHATWG "event stream interpretation" algorithm (HTML §9.2.6), on a complete stream.
fn parse_sse(stream: &str) -> SseParse {
    let stream = stream.strip_prefix('\u{feff}').unwrap_or(stream);
    // Split into lines on CRLF, lone CR, lone LF; an unterminated final line is dropped.
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut chars = stream.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut cur));
            }
            '\n' => lines.push(std::mem::take(&mut cur)),
            other => cur.push(other),
        }
    }
    let mut out = SseParse::default();
    let (mut data, mut event_type, mut id_buffer) = (String::new(), String::new(), String::new());
    for line in &lines {
        if line.is_empty() {
            // The last event id is set at every dispatch, even of an empty event.
            let last_event_id = id_buffer.clone();
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            out.events.push(SseEvent {
                event_type: if event_type.is_empty() {
                    "message".into()
                } else {
                    std::mem::take(&mut event_type)
                },
                data: std::mem::take(&mut data),
                last_event_id,
            });
            event_type.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match name {
            "event" => event_type = value.to_string(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id_buffer = value.to_string(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                out.retry = value.parse().ok();
            }
            _ => {}
        }
    }
    out.lines = lines;
    out
}

fn normalise_newlines(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

fn update(id: String, data: String, event_type: Option<String>, retry: u64) -> Update {
    Draft::new(vec!["https://example.com/t".into()])
        .and_then(|draft| {
            let draft = draft.id(Some(id)).data(data).event_type(event_type);
            draft.retry(retry).build()
        })
        .expect("a valid update")
}

proptest! {
    #![proptest_config(config())]

    /// A-SSE-4, A-SSE-5, A-SSE-8, C-HARD-1: whatever the data (CR, LF, CRLF anywhere, field
    /// look-alikes), and for any id/type accepted by validation, the encoded frame is exactly
    /// one event with the given id and type, data = input with line endings normalised to LF;
    /// the frame ends with a blank line and contains no other one.
    #[test]
    fn a_sse_5_encoding_never_injects_fields(
        data in sse_data(),
        id in field_value(),
        event_type in proptest::option::of(field_value()),
        retry in prop_oneof![Just(0u64), any::<u64>()],
    ) {
        // An empty id is no id: a publish is given a new one.
        prop_assume!(!id.is_empty() && validate_id(&id).is_ok());
        if let Some(t) = &event_type {
            prop_assume!(validate_type(t).is_ok());
        }
        let encoded = encode(&update(id.clone(), data.clone(), event_type.clone(), retry));
        let (chunk, frame) = (encoded.view(Framing::Chunk), encoded.view(Framing::Record));
        // The event is framed as exactly one HTTP/1.1 chunk, sent as is on a direct stream.
        let size_line = format!("{:x}\r\n", frame.len());
        prop_assert!(chunk.starts_with(size_line.as_bytes()), "{:?}", chunk);
        prop_assert!(chunk.ends_with(b"\r\n"), "{:?}", chunk);
        prop_assert_eq!(chunk.len(), size_line.len() + frame.len() + 2);
        let text = std::str::from_utf8(frame).expect("frame is UTF-8");
        prop_assert!(text.ends_with("\n\n"), "{:?}", text);

        // The frame alone, after the initial comment of a stream (A-SSE-3).
        let parsed = parse_sse(&format!(":\n{text}"));
        prop_assert_eq!(parsed.events.len(), 1, "{:?}", text);
        let ev = &parsed.events[0];
        prop_assert_eq!(&ev.last_event_id, &id);
        let expected_type = match event_type.as_deref() {
            None | Some("") => "message",
            Some(t) => t,
        };
        prop_assert_eq!(ev.event_type.as_str(), expected_type);
        prop_assert_eq!(&ev.data, &normalise_newlines(&data));
        prop_assert_eq!(parsed.retry, (retry > 0).then_some(retry));

        // Exactly one blank line in the frame, and it is the last line.
        let frame_lines = parse_sse(text).lines;
        let blanks: Vec<usize> = frame_lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_empty())
            .map(|(i, _)| i)
            .collect();
        prop_assert_eq!(blanks, vec![frame_lines.len() - 1], "{:?}", text);
        // Field order (A-SSE-4): event, retry, id, then only data lines.
        let names: Vec<&str> = frame_lines[..frame_lines.len() - 1]
            .iter()
            .map(|l| l.split_once(": ").map_or(l.as_str(), |(n, _)| n))
            .collect();
        let mut expected = Vec::new();
        if event_type.as_deref().is_some_and(|t| !t.is_empty()) {
            expected.push("event");
        }
        if retry > 0 {
            expected.push("retry");
        }
        expected.push("id");
        let n_data = names.len() - expected.len();
        prop_assert!(n_data >= 1, "{:?}", text);
        expected.extend(std::iter::repeat_n("data", n_data));
        prop_assert_eq!(names, expected, "{:?}", text);
    }

    /// A-SSE-8: two frames back to back are two events, in order, each with its own id.
    #[test]
    fn a_sse_4_frames_concatenate(
        a in sse_data(),
        b in sse_data(),
        ia in field_value(),
        ib in field_value(),
    ) {
        prop_assume!(!ia.is_empty() && !ib.is_empty());
        prop_assume!(validate_id(&ia).is_ok() && validate_id(&ib).is_ok());
        let mut stream = String::from(":\n");
        for (id, data) in [(&ia, &a), (&ib, &b)] {
            let f = encode(&update(id.clone(), data.clone(), None, 0));
            stream.push_str(std::str::from_utf8(f.view(Framing::Record)).unwrap());
            stream.push_str(":\n"); // a heartbeat between events changes nothing
        }
        let parsed = parse_sse(&stream);
        prop_assert_eq!(parsed.events.len(), 2);
        prop_assert_eq!(&parsed.events[0].last_event_id, &ia);
        prop_assert_eq!(&parsed.events[0].data, &normalise_newlines(&a));
        prop_assert_eq!(&parsed.events[1].last_event_id, &ib);
        prop_assert_eq!(&parsed.events[1].data, &normalise_newlines(&b));
    }
}

// ---------------------------------------------------------------------------------------
// Field validation (A-PUB-7, A-PUB-8, A-PUB-9, C-HARD-1, C-HARD-2, C-HARD-5)
// ---------------------------------------------------------------------------------------

fn has_c0_or_del(s: &str) -> bool {
    s.chars().any(|c| c <= '\u{1f}' || c == '\u{7f}')
}

proptest! {
    #![proptest_config(config())]

    /// C-HARD-1, C-HARD-5, A-PUB-7: `validate_id` refuses exactly the strings containing a C0
    /// character or DEL, plus `earliest`; C1, bidi and zero-width characters are accepted.
    #[test]
    fn c_hard_1_validate_id_refuses_exactly_c0_del(s in prop_oneof![
        any_text(), Just("earliest".to_string()), Just("Earliest".to_string()),
    ]) {
        let refused = has_c0_or_del(&s) || s == "earliest";
        prop_assert_eq!(validate_id(&s).is_err(), refused, "{:?}", s);
    }

    /// C-HARD-1, C-HARD-5, A-PUB-8: `validate_type` refuses exactly C0/DEL and `mercure`.
    #[test]
    fn c_hard_1_validate_type_refuses_exactly_c0_del(s in prop_oneof![
        any_text(), Just("mercure".to_string()), Just("Mercure".to_string()),
    ]) {
        let refused = has_c0_or_del(&s) || s == "mercure";
        prop_assert_eq!(validate_type(&s).is_err(), refused, "{:?}", s);
    }

    /// C-HARD-2: `has_control_chars` is exactly "contains C0 or DEL".
    #[test]
    fn c_hard_2_has_control_chars_is_c0_del(s in any_text()) {
        prop_assert_eq!(has_control_chars(&s), has_c0_or_del(&s));
    }

    /// A-PUB-9: `retry` is accepted iff empty or ASCII digits fitting in a u64.
    #[test]
    fn a_pub_9_parse_retry(s in prop_oneof![
        any_text(),
        "[0-9]{0,22}",
        any::<u64>().prop_map(|n| n.to_string()),
        "[+-]?[0-9 ]{1,4}",
    ]) {
        let expected = if s.is_empty() {
            Some(0)
        } else if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u64>().ok()
        } else {
            None
        };
        prop_assert_eq!(parse_retry(Some(&s)).ok(), expected, "{:?}", s);
    }
}

// ---------------------------------------------------------------------------------------
// Reserved namespace (A-PUB-13)
// ---------------------------------------------------------------------------------------

/// Undoes the escaping of `refusal`'s quoted topic.
fn unescape(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                e @ ('\\' | '"') => out.push(e),
                _ => return None,
            }
        } else if c == '"' {
            return None; // an unescaped quote would end the string early
        } else {
            out.push(c);
        }
    }
    Some(out)
}

proptest! {
    #![proptest_config(config())]

    /// A-PUB-13: `is_reserved` never panics and is true for every string containing
    /// `/.well-known/mercure`, wherever it occurs.
    #[test]
    fn a_pub_13_substring_is_always_reserved(
        before in prop_oneof![any_text(), template_like()],
        after in prop_oneof![any_text(), template_like()],
        plain in prop_oneof![any_text(), template_like()],
    ) {
        let _ = is_reserved(&plain);
        let topic = format!("{before}/.well-known/mercure{after}");
        prop_assert!(is_reserved(&topic), "{:?}", topic);
    }

    /// A-PUB-13: dotted and unreserved-%-encoded forms of the namespace are caught too.
    #[test]
    fn a_pub_13_normalised_forms_are_reserved(
        prefix in select(vec!["", "https://example.com", "https://example.com/a/.."]),
        m in select(vec!["m", "%6D", "%6d"]),
        dots in select(vec!["", "/.", "/x/.."]),
        rest in select(vec!["", "/", "/x", "/subscriptions/a"]),
    ) {
        let topic = format!("{prefix}{dots}/.well-known/{m}ercure{rest}");
        prop_assert!(is_reserved(&topic), "{:?}", topic);
    }

    /// A-PUB-13: the refusal body quotes the topic with `"` and `\` escaped, reversibly.
    #[test]
    fn a_pub_13_refusal_escapes_reversibly(topic in any_text()) {
        let body = refusal(&topic);
        let suffix = ": topic value references the reserved \"/.well-known/mercure\" namespace\n";
        prop_assert!(body.starts_with('"'));
        let inner = body
            .strip_suffix(suffix)
            .and_then(|b| b.strip_prefix('"'))
            .and_then(|b| b.strip_suffix('"'));
        prop_assert!(inner.is_some(), "{:?}", body);
        prop_assert_eq!(unescape(inner.unwrap()), Some(topic));
    }
}

// ---------------------------------------------------------------------------------------
// Token sources (X-6, A-AUTH-2 … A-AUTH-5)
// ---------------------------------------------------------------------------------------

fn token_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_.-]{0,80}",
        any_text(),
        "[A-Za-z0-9_-]{20}\\.[A-Za-z0-9_-]{20}\\.[A-Za-z0-9_-]{20}",
    ]
}

proptest! {
    #![proptest_config(config())]

    /// X-6, A-AUTH-2, A-AUTH-3: `extract` never panics; when any `Authorization` header is
    /// present it alone decides (a later valid query or cookie token is never used); exactly
    /// one `Bearer <token ≥ 41 chars>` header yields that token, anything else is an error.
    #[test]
    fn x_6_header_alone_decides(
        raw_headers in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..60),
                (select(vec!["Bearer ", "bearer ", "BEARER ", "Basic ", "Bearer", "Bearer  "]),
                    token_like())
                    .prop_map(|(s, t)| format!("{s}{t}").into_bytes()),
            ],
            0..3,
        ),
        query in proptest::collection::vec(token_like(), 0..3),
        cookie in proptest::option::of(token_like()),
    ) {
        let sources = TokenSources {
            headers: raw_headers.iter().map(Vec::as_slice).collect(),
            query: query.iter().map(String::as_str).collect(),
            cookie: cookie.as_deref(),
        };
        let got = extract(&sources);
        if raw_headers.is_empty() {
            match &got {
                Ok(Some((Source::Header, _))) => prop_assert!(false, "header source without header"),
                Ok(Some((Source::Query, t))) => {
                    prop_assert_eq!(query.len(), 1);
                    prop_assert_eq!(*t, query[0].as_str());
                    prop_assert!(t.len() >= 41);
                }
                Ok(Some((Source::Cookie, t))) => {
                    prop_assert!(query.is_empty());
                    prop_assert_eq!(Some(*t), cookie.as_deref());
                }
                Ok(None) => prop_assert!(query.is_empty() && cookie.is_none()),
                Err(_) => prop_assert!(query.len() != 1 || query[0].len() < 41),
            }
        } else {
            let expected = match raw_headers.as_slice() {
                [one] => std::str::from_utf8(one).ok().and_then(|v| {
                    let scheme = v.get(..7)?;
                    let token = &v[7..];
                    (scheme.eq_ignore_ascii_case("bearer ") && token.len() >= 41).then_some(token)
                }),
                _ => None,
            };
            match expected {
                Some(t) => prop_assert_eq!(got.ok(), Some(Some((Source::Header, t)))),
                None => prop_assert!(got.is_err(), "{:?}", got),
            }
        }
    }
}
