//! The Caddyfile syntax of `MERCURE_EXTRA_DIRECTIVES` (protocol.md C-ENV-2): one directive per
//! line, `name arg…`; a line ending with `{` opens a block of directives that a line holding
//! only `}` closes, as the reference 1.0 hub's `issuer <id> { … }`. Syntax only: what the
//! directives mean is `mercure.rs`'s business.

/// Blocks inside blocks: `issuer { publisher { … } }` needs two.
const MAX_DEPTH: usize = 2;

/// One directive, its arguments and, when it opened one, its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Directive {
    pub name: String,
    pub args: Vec<String>,
    pub block: Option<Vec<Directive>>,
    /// 1-based line in the variable's text, for error messages.
    pub line: usize,
}

/// A syntax error and the 1-based line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// What a line holds once split.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    /// An unquoted `{` standing alone.
    Open,
    /// An unquoted `}` standing alone.
    Close,
}

/// Parses every directive of `text`, blocks included.
pub(super) fn parse(text: &str) -> Result<Vec<Directive>, SyntaxError> {
    // The directives of the enclosing levels, each with the directive whose block is open.
    let mut open: Vec<(Directive, Vec<Directive>)> = Vec::new();
    let mut top = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let error = |message: &str| SyntaxError {
            line: number,
            message: message.to_owned(),
        };
        let tokens = split_line(line).map_err(|message| error(&message))?;
        if tokens == [Token::Close] {
            let (mut directive, children) =
                open.pop().ok_or_else(|| error("`}` closes no block"))?;
            directive.block = Some(children);
            current(&mut open, &mut top).push(directive);
            continue;
        }
        let Some((directive, opens)) = directive_of(tokens, number).map_err(|m| error(&m))? else {
            continue;
        };
        if !opens {
            current(&mut open, &mut top).push(directive);
        } else if open.len() == MAX_DEPTH {
            return Err(error("blocks are nested too deeply"));
        } else {
            open.push((directive, Vec::new()));
        }
    }
    match open.pop() {
        Some((directive, _)) => Err(SyntaxError {
            line: directive.line,
            message: format!(
                "the block of {} is never closed by a `}}` line",
                directive.name
            ),
        }),
        None => Ok(top),
    }
}

/// The list the next directive belongs to: the innermost open block's, else the top level.
fn current<'a>(
    open: &'a mut [(Directive, Vec<Directive>)],
    top: &'a mut Vec<Directive>,
) -> &'a mut Vec<Directive> {
    match open.last_mut() {
        Some((_, children)) => children,
        None => top,
    }
}

/// The directive of a line's tokens and whether it opens a block; `None` for an empty line.
fn directive_of(tokens: Vec<Token>, line: usize) -> Result<Option<(Directive, bool)>, String> {
    let mut words = Vec::with_capacity(tokens.len());
    let mut opens = false;
    let count = tokens.len();
    for (position, token) in tokens.into_iter().enumerate() {
        match token {
            Token::Word(word) if !opens => words.push(word),
            Token::Open if position + 1 == count && position > 0 => opens = true,
            Token::Open => return Err("`{` must end a line that starts with a directive".into()),
            Token::Close | Token::Word(_) => return Err("`}` must stand alone on its line".into()),
        }
    }
    let mut words = words.into_iter();
    Ok(words.next().map(|name| {
        let directive = Directive {
            name,
            args: words.collect(),
            block: None,
            line,
        };
        (directive, opens)
    }))
}

/// Splits a line into tokens: whitespace-separated words, `"double quoted"` (with `\"`) or
/// `` `backquoted` ``; a lone unquoted `{` or `}` is a brace; `#` starts a comment.
fn split_line(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            _ if c.is_whitespace() => {
                chars.next();
            }
            '#' => break,
            '"' | '`' => {
                chars.next();
                tokens.push(Token::Word(quoted(&mut chars, c)?));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(match word.as_str() {
                    "{" => Token::Open,
                    "}" => Token::Close,
                    _ => Token::Word(word),
                });
            }
        }
    }
    Ok(tokens)
}

fn quoted(chars: &mut impl Iterator<Item = char>, quote: char) -> Result<String, String> {
    let mut word = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quote == '"' => match chars.next() {
                Some(escaped) => word.push(escaped),
                None => break,
            },
            _ if c == quote => return Ok(word),
            _ => word.push(c),
        }
    }
    Err(format!("unterminated {quote}quoted{quote} value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Result<Vec<String>, String> {
        split_line(line).map(|tokens| {
            tokens
                .into_iter()
                .map(|token| match token {
                    Token::Word(word) => word,
                    Token::Open => "{".into(),
                    Token::Close => "}".into(),
                })
                .collect()
        })
    }

    fn leaf(name: &str, args: &[&str], line: usize) -> Directive {
        Directive {
            name: name.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            block: None,
            line,
        }
    }

    /// C-ENV-2: quoting and comments as in a Caddyfile.
    #[test]
    fn words_quotes_and_comments() {
        assert_eq!(
            words(r#"publisher_jwt "a b\"c" HS256 # note"#),
            Ok(vec![
                "publisher_jwt".into(),
                "a b\"c".into(),
                "HS256".into()
            ])
        );
        assert_eq!(words("   "), Ok(Vec::new()));
        assert_eq!(
            words("cookie_name `{x}`"),
            Ok(vec!["cookie_name".into(), "{x}".into()])
        );
        assert!(words("cookie_name \"open").is_err());
        assert!(words("cookie_name \"trailing\\").is_err());
    }

    /// C-ENV-2: `issuer <id> { … }` blocks, nested once, as the reference 1.0 image writes them.
    #[test]
    fn blocks_nest_and_close() {
        let text = "anonymous\nissuer https://a.example {\n  authorization_server\n  publisher {\n    jwt \"k e y\" HS512\n  }\n}\ncookie_name x";
        let parsed = parse(text).expect("valid");
        let publisher = Directive {
            block: Some(vec![leaf("jwt", &["k e y", "HS512"], 5)]),
            ..leaf("publisher", &[], 4)
        };
        let issuer = Directive {
            block: Some(vec![leaf("authorization_server", &[], 3), publisher]),
            ..leaf("issuer", &["https://a.example"], 2)
        };
        assert_eq!(
            parsed,
            vec![
                leaf("anonymous", &[], 1),
                issuer,
                leaf("cookie_name", &["x"], 8)
            ]
        );
        assert_eq!(
            parse("a \"{\"").expect("a quoted brace is a word")[0].args,
            ["{"]
        );
    }

    /// C-ENV-4: every malformed block is a startup error naming its line; never a panic.
    #[test]
    fn malformed_blocks_are_refused_with_their_line() {
        for (text, line, message) in [
            ("issuer x {", 1, "never closed"),
            ("a\n}", 2, "closes no block"),
            ("issuer x { jwt k", 1, "must end a line"),
            ("{", 1, "must end a line"),
            ("issuer {\n}", 1, ""),
            ("a {\nb {\nc {\n}\n}\n}", 3, "nested too deeply"),
            ("a\nb }", 2, "must stand alone"),
            ("x { }", 1, "must end a line"),
        ] {
            match parse(text) {
                Ok(parsed) => assert!(message.is_empty(), "{text:?} parsed as {parsed:?}"),
                Err(error) => {
                    assert_eq!(error.line, line, "{text:?}: {error:?}");
                    assert!(error.message.contains(message), "{text:?}: {error:?}");
                }
            }
        }
        for hostile in ["}}}}", "{{{{", "\u{0}{\n}", "\"\\", "`", "# {", "a # }"] {
            let _ = parse(hostile);
        }
    }
}
