//! `AllowedPattern` as CloudFormation reads it: a Java regular expression that must match the
//! whole value (`String.matches`).
//!
//! Owns: translating what Java has and Rust's engines spell differently (the POSIX classes
//! `\p{Print}`, `\p{Alnum}`, ... which Java defines over US-ASCII) and compiling the result with
//! `fancy-regex`, which adds the lookaround and backreferences real templates use (e.g. a password
//! rule `^(?=(.*\p{Print}){4,})(?!.*[ ,:=])[\p{Print}]{12,}$`). Must not: decide what a failed
//! match means (the parameter checks do).

/// Java's POSIX character classes (US-ASCII), as the contents of a bracket expression.
const POSIX: &[(&str, &str)] = &[
    ("Lower", "a-z"),
    ("Upper", "A-Z"),
    ("ASCII", "\\x00-\\x7F"),
    ("Alpha", "a-zA-Z"),
    ("Digit", "0-9"),
    ("Alnum", "a-zA-Z0-9"),
    ("Punct", "!-/:-@\\[-`{-~"),
    ("Graph", "!-~"),
    ("Print", " -~"),
    ("Blank", " \\t"),
    ("Cntrl", "\\x00-\\x1F\\x7F"),
    ("XDigit", "0-9a-fA-F"),
    ("Space", " \\t\\n\\x0B\\f\\r"),
];

/// A compiled whole-value pattern.
#[derive(Debug)]
pub(crate) struct Pattern {
    re: fancy_regex::Regex,
    /// The pattern as the template wrote it.
    pub source: String,
}

impl Pattern {
    /// Compiles `pattern` as Java would, anchored to the whole value.
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        let translated = translate(pattern);
        let re = fancy_regex::Regex::new(&format!("^(?:{translated})$")).map_err(|e| e.to_string())?;
        Ok(Pattern { re, source: pattern.to_string() })
    }

    /// Whether `value` matches; a pattern too costly to decide (catastrophic backtracking) does not.
    pub fn is_match(&self, value: &str) -> bool {
        self.re.is_match(value).unwrap_or(false)
    }
}

/// Rewrites `\p{Name}` / `\P{Name}` of Java's POSIX classes into bracket expressions (inside a
/// bracket expression: its contents; `\P` outside one: a negated class). Everything else is left
/// as it is: the rest of Java's syntax that templates use is the same in fancy-regex.
fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut chars = pattern.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let rest = &pattern[i + 1..];
                let class = POSIX.iter().find_map(|(name, body)| {
                    let negated = rest.starts_with(&format!("P{{{name}}}"));
                    (rest.starts_with(&format!("p{{{name}}}")) || negated).then_some((name.len() + 3, *body, negated))
                });
                match class {
                    Some((len, body, negated)) if !(in_class && negated) => {
                        if in_class {
                            out.push_str(body);
                        } else {
                            out.push_str(&format!("[{}{body}]", if negated { "^" } else { "" }));
                        }
                        for _ in 0..len {
                            chars.next();
                        }
                    }
                    _ => {
                        out.push('\\');
                        if let Some((_, next)) = chars.next() {
                            out.push(next);
                        }
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A `]` or `^]` right after the opening bracket is a literal.
                if let Some(&(_, '^')) = chars.peek() {
                    out.push('^');
                    chars.next();
                }
                if let Some(&(_, ']')) = chars.peek() {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookahead_and_posix_classes_work_as_in_java() {
        let p = Pattern::new(r"^(?=(.*\p{Print}){4,})(?!.*[ ,:=])[\p{Print}]{12,}$").unwrap();
        assert!(p.is_match("Correct-Horse-42"));
        assert!(!p.is_match("has a space in it"), "the negative lookahead refuses spaces");
        assert!(!p.is_match("short"));
        let bucket = Pattern::new(r"(?!(^((2(5[0-5]|[0-4][0-9])|[01]?[0-9]{1,2})\.){3}(2(5[0-5]|[0-4][0-9])|[01]?[0-9]{1,2})$|^xn--|.+-s3alias$))^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$").unwrap();
        assert!(bucket.is_match("my-bucket") && !bucket.is_match("192.168.1.1") && !bucket.is_match("xn--bucket"));
        assert!(Pattern::new(r"\P{Alpha}+").unwrap().is_match("123"));
    }

    #[test]
    fn the_whole_value_must_match_and_classes_like_javas_compile() {
        for (pattern, yes, no) in [
            ("[a-zA-Z0-9]+", "abc1", "abc-1"),
            ("^[a-zA-Z0-9_.-/]*$", "a/b.c", "a b"),
            ("^[a-zA-Z0-9-_]+$", "a-b_c", "a b"),
            ("[]a]+", "a]a", "b"),
            (r"^\d{12}", "123456789012", "12345678901x"),
        ] {
            let p = Pattern::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert!(p.is_match(yes) && !p.is_match(no), "{pattern}");
        }
    }
}
