//! API Gateway path templates and methods: parsing, validation, specificity.
//!
//! Owns: what a valid route path is (`/items/{id}`, `/files/{proxy+}`), the method set, the key two
//! routes collide on, and the "most specific first" order API Gateway matches in. Pure functions;
//! the gateway's matcher builds on [`PathTemplate`]. Must not: know about templates or functions.

use std::cmp::Ordering;

/// Methods API Gateway accepts on a route.
pub const METHODS: &[&str] = &["ANY", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

/// The HTTP API catch-all route key.
pub const DEFAULT_ROUTE: &str = "$default";

/// One path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches itself exactly.
    Literal(String),
    /// `{name}`: one segment.
    Param(String),
    /// `{name+}`: the rest of the path (last segment only).
    Greedy(String),
}

/// A parsed, valid path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    /// Segments after the leading `/`; empty for the root path.
    pub segments: Vec<Segment>,
    /// True for the HTTP API `$default` route.
    pub catch_all: bool,
}

/// Why a path is not a valid API Gateway path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PathError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: &'static str,
}

fn err(message: String, hint: &'static str) -> PathError {
    PathError { message, hint }
}

impl PathTemplate {
    /// Parses and validates a path template.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        if path == DEFAULT_ROUTE {
            return Ok(PathTemplate { segments: vec![], catch_all: true });
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Err(err(format!("path `{path}` must start with `/`"), "write it as `/{path}`"));
        };
        if rest.is_empty() {
            return Ok(PathTemplate { segments: vec![], catch_all: false });
        }
        if rest.ends_with('/') {
            return Err(err(format!("path `{path}` ends with `/`"), "API Gateway paths have no trailing slash; remove it"));
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut names: Vec<&str> = vec![];
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() {
                return Err(err(format!("path `{path}` has an empty segment (`//`)"), "remove the doubled slash"));
            }
            if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let (name, greedy) = match inner.strip_suffix('+') {
                    Some(n) => (n, true),
                    None => (inner, false),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
                    return Err(err(
                        format!("path `{path}`: `{part}` is not a valid parameter"),
                        "parameters look like `{id}` or `{proxy+}`: letters, digits, `_`, `-`, `.`",
                    ));
                }
                if greedy && i + 1 != parts.len() {
                    return Err(err(
                        format!("path `{path}`: greedy parameter `{part}` must be the last segment"),
                        "move `{name+}` to the end of the path",
                    ));
                }
                if names.contains(&name) {
                    return Err(err(format!("path `{path}` uses parameter `{name}` twice"), "give each path parameter its own name"));
                }
                names.push(name);
                segments.push(if greedy { Segment::Greedy(name.into()) } else { Segment::Param(name.into()) });
            } else if part.contains(['{', '}']) {
                return Err(err(
                    format!("path `{path}`: segment `{part}` mixes text and a parameter"),
                    "API Gateway parameters must be a whole segment, like `/items/{id}`",
                ));
            } else if let Some(bad) = part.chars().find(|c| !is_path_char(*c)) {
                return Err(err(
                    format!("path `{path}` contains `{bad}`, which is not allowed in a path"),
                    "use letters, digits and -._~:@!$&'()*+,;= in paths",
                ));
            } else {
                segments.push(Segment::Literal((*part).into()));
            }
        }
        Ok(PathTemplate { segments, catch_all: false })
    }

    /// The path with parameter names erased: two routes with the same key and method collide.
    pub fn collision_key(&self) -> String {
        if self.catch_all {
            return DEFAULT_ROUTE.into();
        }
        let mut key = String::new();
        for s in &self.segments {
            key.push('/');
            match s {
                Segment::Literal(l) => key.push_str(l),
                Segment::Param(_) => key.push_str("{}"),
                Segment::Greedy(_) => key.push_str("{+}"),
            }
        }
        if key.is_empty() {
            "/".into()
        } else {
            key
        }
    }

    /// API Gateway's precedence: compares segment by segment, literal before `{param}` before
    /// `{proxy+}`; at equal prefixes the longer path wins; `$default` is last.
    pub fn specificity_cmp(&self, other: &Self) -> Ordering {
        match (self.catch_all, other.catch_all) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            _ => {}
        }
        fn rank(s: &Segment) -> u8 {
            match s {
                Segment::Literal(_) => 0,
                Segment::Param(_) => 1,
                Segment::Greedy(_) => 2,
            }
        }
        for (a, b) in self.segments.iter().zip(&other.segments) {
            match rank(a).cmp(&rank(b)) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        other.segments.len().cmp(&self.segments.len())
    }
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:@!$&'()*+,;=%".contains(c)
}

/// Normalises a method (case-insensitive; `x-amazon-apigateway-any-method` and `*` mean ANY).
pub fn normalize_method(method: &str) -> Option<String> {
    let upper = method.to_ascii_uppercase();
    let m = match upper.as_str() {
        "*" | "X-AMAZON-APIGATEWAY-ANY-METHOD" => "ANY",
        other => other,
    };
    METHODS.contains(&m).then(|| m.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathTemplate {
        PathTemplate::parse(s).unwrap()
    }

    #[test]
    fn parses_literals_params_and_greedy() {
        assert_eq!(
            p("/items/{id}/files/{proxy+}").segments,
            vec![
                Segment::Literal("items".into()),
                Segment::Param("id".into()),
                Segment::Literal("files".into()),
                Segment::Greedy("proxy".into())
            ]
        );
        assert!(p("/").segments.is_empty());
        assert!(p("$default").catch_all);
    }

    #[test]
    fn rejects_bad_paths_with_a_hint() {
        for (bad, needle) in [
            ("items", "must start with"),
            ("/items/", "trailing slash"),
            ("/a//b", "empty segment"),
            ("/a/{proxy+}/b", "last segment"),
            ("/a/x{id}", "mixes text"),
            ("/a/{}", "not a valid parameter"),
            ("/a/{id}/{id}", "twice"),
            ("/a b", "not allowed"),
        ] {
            let e = PathTemplate::parse(bad).unwrap_err();
            assert!(e.message.contains(needle) || e.hint.contains(needle), "{bad}: {e:?}");
        }
    }

    #[test]
    fn collision_key_ignores_parameter_names() {
        assert_eq!(p("/items/{id}").collision_key(), p("/items/{itemId}").collision_key());
        assert_ne!(p("/items/{id}").collision_key(), p("/items/{id+}").collision_key());
        assert_eq!(p("/").collision_key(), "/");
    }

    #[test]
    fn more_specific_paths_sort_first() {
        let mut v = [p("$default"), p("/{proxy+}"), p("/items/{id}"), p("/items/new"), p("/items"), p("/")];
        v.sort_by(PathTemplate::specificity_cmp);
        let keys: Vec<String> = v.iter().map(PathTemplate::collision_key).collect();
        // `/` and `/{proxy+}` never match the same request; longer-first keeps the order total.
        assert_eq!(keys, ["/items/new", "/items/{}", "/items", "/{+}", "/", "$default"]);
    }

    #[test]
    fn methods_normalise_and_unknown_ones_are_refused() {
        assert_eq!(normalize_method("get").as_deref(), Some("GET"));
        assert_eq!(normalize_method("x-amazon-apigateway-any-method").as_deref(), Some("ANY"));
        assert_eq!(normalize_method("FETCH"), None);
    }
}
