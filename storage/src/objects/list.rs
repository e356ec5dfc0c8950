//! ListObjects as S3 defines it, over a sorted map of keys: prefix, delimiter (common prefixes),
//! a start position (`marker`, `start-after`, a continuation token) and a page size.
//!
//! Owns: that one pure function and its unit tests. Must not: touch files or speak XML.

use super::Meta;
use std::collections::BTreeMap;
use std::ops::Bound;

/// S3's largest page.
pub const MAX_KEYS: usize = 1000;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    /// Only keys starting with this.
    pub prefix: &'a str,
    /// Roll keys up to the first delimiter after the prefix.
    pub delimiter: Option<&'a str>,
    /// Only entries after this key or common prefix.
    pub after: Option<&'a str>,
    /// Page size (capped at [`MAX_KEYS`]).
    pub max: usize,
}

/// One page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Objects, in key order.
    pub objects: Vec<Meta>,
    /// Common prefixes, in order.
    pub prefixes: Vec<String>,
    /// More follow.
    pub truncated: bool,
    /// The last entry of this page (where the next one starts after) when truncated.
    pub next: Option<String>,
}

/// Lists `objects` as S3 does.
pub fn list(objects: &BTreeMap<String, Meta>, q: &Query<'_>) -> Listing {
    let max = q.max.min(MAX_KEYS);
    let mut out = Listing::default();
    if max == 0 {
        // A page of nothing: not "truncated", or a client that follows pages would never stop.
        return out;
    }
    let start = match q.after {
        Some(a) if a >= q.prefix => Bound::Excluded(a.to_string()),
        _ => Bound::Included(q.prefix.to_string()),
    };
    let mut count = 0usize;
    let mut last: Option<String> = None;
    for (key, meta) in objects.range((start, Bound::Unbounded)) {
        if !key.starts_with(q.prefix) {
            break;
        }
        let rolled = q.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            let rest = &key[q.prefix.len()..];
            rest.find(d).map(|i| format!("{}{}", q.prefix, &rest[..i + d.len()]))
        });
        match rolled {
            Some(cp) => {
                // Within the common prefix the page started after, or the one just added.
                if q.after.is_some_and(|a| a.starts_with(cp.as_str()) || a >= cp.as_str()) || out.prefixes.last() == Some(&cp) {
                    continue;
                }
                if count == max {
                    out.truncated = true;
                    break;
                }
                last = Some(cp.clone());
                out.prefixes.push(cp);
            }
            None => {
                if count == max {
                    out.truncated = true;
                    break;
                }
                last = Some(key.clone());
                out.objects.push(meta.clone());
            }
        }
        count += 1;
    }
    if out.truncated {
        out.next = last;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(keys: &[&str]) -> BTreeMap<String, Meta> {
        keys.iter()
            .map(|k| {
                let m = Meta {
                    key: k.to_string(),
                    size: 1,
                    etag: "e".into(),
                    modified_ms: 0,
                    data: "d".into(),
                    attrs: Default::default(),
                    checksums: Default::default(),
                };
                (k.to_string(), m)
            })
            .collect()
    }

    fn keys(l: &Listing) -> Vec<&str> {
        l.objects.iter().map(|m| m.key.as_str()).collect()
    }

    #[test]
    fn a_prefix_is_a_string_prefix_and_dot_dot_is_just_characters() {
        let o = objects(&["../x", "../y/z", "a", "ab", "b/c"]);
        let l = list(&o, &Query { prefix: "../", max: 1000, ..Default::default() });
        assert_eq!(keys(&l), ["../x", "../y/z"]);
        let l = list(&o, &Query { prefix: "a", max: 1000, ..Default::default() });
        assert_eq!(keys(&l), ["a", "ab"]);
    }

    #[test]
    fn a_delimiter_rolls_keys_up_into_common_prefixes_in_order() {
        let o = objects(&["a/1", "a/2", "b", "c/d/e", "c/f"]);
        let l = list(&o, &Query { delimiter: Some("/"), max: 1000, ..Default::default() });
        assert_eq!(keys(&l), ["b"]);
        assert_eq!(l.prefixes, ["a/", "c/"]);
        let l = list(&o, &Query { prefix: "c/", delimiter: Some("/"), max: 1000, ..Default::default() });
        assert_eq!((keys(&l), l.prefixes.clone()), (vec!["c/f"], vec!["c/d/".to_string()]));
    }

    #[test]
    fn pages_continue_after_the_last_entry_including_a_common_prefix() {
        let o = objects(&["a/1", "a/2", "b", "c/1", "d"]);
        let q = |after| Query { delimiter: Some("/"), after, max: 2, ..Default::default() };
        let p1 = list(&o, &q(None));
        assert_eq!((p1.prefixes.clone(), keys(&p1), p1.truncated, p1.next.clone()), (vec!["a/".into()], vec!["b"], true, Some("b".into())));
        let p2 = list(&o, &q(p1.next.as_deref()));
        assert_eq!((p2.prefixes.clone(), keys(&p2), p2.truncated), (vec!["c/".into()], vec!["d"], false));
        let p = list(&o, &Query { delimiter: Some("/"), after: Some("a/"), max: 10, ..Default::default() });
        assert_eq!((p.prefixes.clone(), keys(&p)), (vec!["c/".into()], vec!["b", "d"]), "after a common prefix skips its keys");
        let p = list(&o, &Query { max: 0, ..Default::default() });
        assert!(p.objects.is_empty() && !p.truncated);
    }
}
