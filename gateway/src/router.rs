//! Route matching: method + path -> the route of routing.yml that answers it.
//!
//! Owns: the compiled route table (all APIs of the project merged onto one host, as `sam local
//! start-api` does), API Gateway's precedence (literal segments before `{param}` before `{proxy+}`,
//! `$default` last; an exact method before `ANY`), path parameter extraction, and the difference
//! between "no such path" (404) and "path exists, method does not" (405). Must not: know about auth,
//! events or functions beyond the route's names.

use esb_config::model::{ApiSpec, FunctionUrl, Route, RoutingFile, UnavailableRoute};
use esb_config::routes::{PathTemplate, Segment};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One route, compiled.
#[derive(Debug)]
pub struct CompiledRoute {
    /// The route as routing.yml states it.
    pub route: Route,
    /// Its API.
    pub api: Arc<ApiSpec>,
    template: PathTemplate,
}

/// What a request matched.
#[derive(Debug)]
pub enum Match<'a> {
    /// A route answers; path parameters by name (greedy ones hold the rest of the path).
    Found {
        /// The route.
        route: &'a CompiledRoute,
        /// `{name}` -> value (percent-decoded).
        params: BTreeMap<String, String>,
    },
    /// Some route has this path, none this method; the methods that do exist.
    MethodNotAllowed {
        /// Allowed methods, sorted.
        allowed: Vec<String>,
        /// The API of the first route with this path (for CORS preflights).
        api: Arc<ApiSpec>,
    },
    /// No route has this path.
    NotFound,
}

/// The project's routes, most specific first.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<CompiledRoute>,
    /// Routes of functions esb cannot run, for a 404 that says so.
    unavailable: Vec<(PathTemplate, UnavailableRoute)>,
    /// Function URLs by id (the first label of their host).
    urls: BTreeMap<String, FunctionUrl>,
}

impl Router {
    /// Compiles routing.yml. Routes whose path does not parse are skipped with a warning
    /// (`esb build` rejects them, so only a hand-edited file has them).
    pub fn new(file: &RoutingFile) -> Self {
        let apis: BTreeMap<&str, Arc<ApiSpec>> = file.apis.iter().map(|(k, v)| (k.as_str(), Arc::new(v.clone()))).collect();
        let mut routes: Vec<CompiledRoute> = file
            .routes
            .iter()
            .filter_map(|r| {
                let template = match PathTemplate::parse(&r.path) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(route = %r.source, error = %e, "route left out");
                        return None;
                    }
                };
                let Some(api) = apis.get(r.api.as_str()).cloned() else {
                    tracing::warn!(route = %r.source, api = %r.api, "route left out: its API is not in routing.yml");
                    return None;
                };
                Some(CompiledRoute { route: r.clone(), api, template })
            })
            .collect();
        // Most specific path first; at equal paths an exact method before ANY. Stable, so routes.yml's
        // order breaks the remaining ties (the first API listed wins a path both declare).
        routes.sort_by(|a, b| {
            a.template.specificity_cmp(&b.template).then_with(|| (a.route.method == "ANY").cmp(&(b.route.method == "ANY")))
        });
        let unavailable = file.unavailable.iter().filter_map(|u| PathTemplate::parse(&u.path).ok().map(|t| (t, u.clone()))).collect();
        let urls = file.function_urls.iter().map(|u| (u.id.clone(), u.clone())).collect();
        Router { routes, unavailable, urls }
    }

    /// The function URL a request's `Host` names: `<id>.lambda-url.<anything>[:port]`.
    pub fn function_url(&self, host: Option<&str>) -> Option<&FunctionUrl> {
        let host = host?;
        let host = host.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()).map_or(host, |(h, _)| h);
        let (id, rest) = host.split_once('.')?;
        if !rest.to_ascii_lowercase().starts_with("lambda-url.") {
            return None;
        }
        self.urls.get(&id.to_ascii_lowercase())
    }

    /// The left-out function whose template route `method` and `path` would have reached, if
    /// any: asked only after [`Router::find`] found nothing, so the 404 can name it and why.
    pub fn unavailable(&self, method: &str, path: &str) -> Option<&UnavailableRoute> {
        let segments = segments(path);
        let segments: &[&str] = &segments;
        self.unavailable.iter().find(|(t, u)| (u.method == "ANY" || u.method == method) && matches(t, segments).is_some()).map(|(_, u)| u)
    }

    /// True when every route is an HTTP API's: an unknown path is then HTTP API's 404 rather than
    /// REST's 403 "Missing Authentication Token" (all APIs share one host, see the module doc).
    pub fn only_http_apis(&self) -> bool {
        !self.routes.is_empty() && self.routes.iter().all(|r| r.api.kind == esb_config::model::ApiKind::Http)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Every route, in match order.
    pub fn routes(&self) -> impl Iterator<Item = &CompiledRoute> {
        self.routes.iter()
    }

    /// Finds the route for `method` and `path` (the raw, percent-encoded path).
    pub fn find(&self, method: &str, path: &str) -> Match<'_> {
        let segments = segments(path);
        let segments: &[&str] = &segments;
        let mut allowed: Vec<String> = vec![];
        let mut api = None;
        for r in &self.routes {
            let Some(params) = matches(&r.template, segments) else { continue };
            let method_ok = r.route.method == "ANY"
                || r.route.method == method
                // API Gateway answers HEAD with a GET route's integration.
                || (method == "HEAD" && r.route.method == "GET");
            if method_ok {
                return Match::Found { route: r, params };
            }
            // `$default` matches every path: a miss there is not "this path exists".
            if !r.template.catch_all {
                allowed.push(r.route.method.clone());
                api.get_or_insert_with(|| r.api.clone());
            }
        }
        match api {
            Some(api) => {
                allowed.sort();
                allowed.dedup();
                Match::MethodNotAllowed { allowed, api }
            }
            None => Match::NotFound,
        }
    }
}

/// A raw path's segments (`/` has none).
fn segments(path: &str) -> Vec<&str> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segments == [""] {
        vec![]
    } else {
        segments
    }
}

fn decode(s: &str) -> String {
    urlencoding::decode(s).map(|c| c.into_owned()).unwrap_or_else(|_| s.to_string())
}

fn matches(t: &PathTemplate, path: &[&str]) -> Option<BTreeMap<String, String>> {
    if t.catch_all {
        return Some(BTreeMap::new());
    }
    let mut params = BTreeMap::new();
    for (i, seg) in t.segments.iter().enumerate() {
        match seg {
            Segment::Greedy(name) => {
                let rest = &path[i.min(path.len())..];
                // `{proxy+}` needs at least one non-empty segment.
                if rest.is_empty() || rest.iter().all(|s| s.is_empty()) {
                    return None;
                }
                params.insert(name.clone(), decode(&rest.join("/")));
                return Some(params);
            }
            Segment::Literal(l) => {
                if path.get(i) != Some(&l.as_str()) {
                    return None;
                }
            }
            Segment::Param(name) => {
                let v = path.get(i).filter(|v| !v.is_empty())?;
                params.insert(name.clone(), decode(v));
            }
        }
    }
    (path.len() == t.segments.len()).then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use esb_config::model::ApiKind;

    fn route(method: &str, path: &str, function: &str) -> Route {
        Route {
            api: "Api".into(),
            method: method.into(),
            path: path.into(),
            function: function.into(),
            payload_version: "1.0".into(),
            authorizer: None,
            api_key_required: false,
            timeout_ms: None,
            source: format!("{function}.E"),
        }
    }

    fn router(routes: Vec<Route>) -> Router {
        let api = ApiSpec::new(ApiKind::Rest, "Prod");
        Router::new(&RoutingFile { version: 1, apis: [("Api".to_string(), api)].into(), routes, ..Default::default() })
    }

    fn found(r: &Router, method: &str, path: &str) -> Option<(String, BTreeMap<String, String>)> {
        match r.find(method, path) {
            Match::Found { route, params } => Some((route.route.function.clone(), params)),
            _ => None,
        }
    }

    #[test]
    fn most_specific_route_wins_regardless_of_file_order() {
        let r = router(vec![
            route("ANY", "/{proxy+}", "Proxy"),
            route("GET", "/items/{id}", "Item"),
            route("GET", "/items/special", "Special"),
            route("ANY", "/items/{id}", "AnyItem"),
        ]);
        assert_eq!(found(&r, "GET", "/items/special").unwrap().0, "Special");
        let (f, p) = found(&r, "GET", "/items/a%20b").unwrap();
        assert_eq!((f.as_str(), p["id"].as_str()), ("Item", "a b"));
        assert_eq!(found(&r, "DELETE", "/items/7").unwrap().0, "AnyItem");
        let (f, p) = found(&r, "POST", "/a/b/c").unwrap();
        assert_eq!((f.as_str(), p["proxy"].as_str()), ("Proxy", "a/b/c"));
    }

    #[test]
    fn wrong_method_is_405_with_the_allowed_ones_and_unknown_path_404() {
        let r = router(vec![route("GET", "/items", "L"), route("POST", "/items", "C")]);
        match r.find("DELETE", "/items") {
            Match::MethodNotAllowed { allowed, .. } => assert_eq!(allowed, ["GET", "POST"]),
            m => panic!("{m:?}"),
        }
        assert!(matches!(r.find("GET", "/nothing"), Match::NotFound));
        assert!(matches!(r.find("GET", "/items/"), Match::NotFound), "no trailing-slash match");
        assert_eq!(found(&r, "HEAD", "/items").unwrap().0, "L");
    }

    #[test]
    fn greedy_needs_a_segment_and_root_and_default_match() {
        let r = router(vec![route("GET", "/files/{key+}", "F"), route("GET", "/", "Root"), route("ANY", "$default", "Default")]);
        assert_eq!(found(&r, "GET", "/files/a/b.txt").unwrap().1["key"], "a/b.txt");
        assert_eq!(found(&r, "GET", "/files").unwrap().0, "Default");
        assert_eq!(found(&r, "GET", "/").unwrap().0, "Root");
        assert_eq!(found(&r, "PATCH", "/whatever").unwrap().0, "Default");
    }
}
