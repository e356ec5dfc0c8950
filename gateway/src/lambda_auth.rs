//! Lambda authorizers, as API Gateway runs them: REST `TOKEN` and `REQUEST` authorizers and HTTP
//! API `REQUEST` authorizers (payload 1.0 and 2.0, simple responses or IAM policies).
//!
//! Owns: the identity a request presents (all sources present, a TOKEN matching its
//! `ValidationExpression`), the authorizer's event, its answer cached per identity for the TTL
//! (the answer is kept, and a policy is evaluated against each request's method ARN, as API
//! Gateway caches policies), evaluating the IAM policy (an explicit Deny wins, else an Allow must
//! match; `*` and `?` wildcards), and API Gateway's answers when it says no (401, 403, 500). Must
//! not: run functions itself (the route's `Invoker` does) or build the route's own event.

use crate::event::{self, Caller, RequestParts, ACCOUNT_ID};
use crate::response::Body;
use crate::router::CompiledRoute;
use crate::Invoker;
use bytes::Bytes;
use esb_config::model::{ApiKind, Authorizer};
use esb_runtime::rie::Outcome;
use http::{Response, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long API Gateway waits for an authorizer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Cached answers kept at most (oldest dropped first).
const MAX_CACHED: usize = 10_000;

/// What a Lambda authorizer allowed: who, and the context it passes to the function.
#[derive(Debug, Clone, Default)]
pub struct LambdaCaller {
    /// `principalId` (policy answers).
    pub principal: Option<String>,
    /// `context`.
    pub context: Map<String, Value>,
}

/// Authorizer answers by (API, authorizer, identity), until they expire.
#[derive(Debug, Default)]
pub struct Cache {
    entries: Mutex<HashMap<String, (Instant, Value)>>,
    /// Compiled `ValidationExpression`s (an invalid one refuses every token), so a request does
    /// not compile its authorizer's expression again.
    patterns: Mutex<HashMap<String, Option<regex::Regex>>>,
}

impl Cache {
    /// Whether `token` matches the whole of `expr`.
    fn validates(&self, expr: &str, token: &str) -> bool {
        let mut patterns = self.patterns.lock().unwrap_or_else(|e| e.into_inner());
        let re = patterns.entry(expr.to_string()).or_insert_with(|| regex::Regex::new(&format!("^(?:{expr})$")).ok());
        re.as_ref().is_some_and(|re| re.is_match(token))
    }

    fn get(&self, key: &str) -> Option<Value> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|(until, _)| *until > Instant::now()).map(|(_, v)| v.clone())
    }

    fn put(&self, key: String, ttl: Duration, answer: Value) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        entries.retain(|_, (until, _)| *until > now);
        if entries.len() >= MAX_CACHED {
            if let Some(oldest) = entries.iter().min_by_key(|(_, (until, _))| *until).map(|(k, _)| k.clone()) {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (now + ttl, answer));
    }
}

/// The ARN API Gateway gives the authorizer: `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>`.
pub fn method_arn(region: &str, api: &str, stage: &str, method: &str, path: &str) -> String {
    format!("arn:aws:execute-api:{region}:{ACCOUNT_ID}:{}/{stage}/{method}/{}", event::api_id(api), path.trim_start_matches('/'))
}

/// `*` any run of characters, `?` one, as IAM matches resource ARNs.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    let (p, a): (Vec<char>, Vec<char>) = (pattern.chars().collect(), arn.chars().collect());
    let (mut pi, mut ai, mut star, mut mark) = (0, 0, None, 0);
    while ai < a.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == a[ai]) {
            pi += 1;
            ai += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ai;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ai = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// An IAM policy's verdict on invoking `arn`: `Some(false)` an explicit Deny, `Some(true)` an
/// Allow, `None` nothing allows it.
pub fn evaluate(policy: &Value, arn: &str) -> Option<bool> {
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            _ => vec![],
        }
    };
    let statements = match &policy["Statement"] {
        Value::Array(a) => a.clone(),
        Value::Object(_) => vec![policy["Statement"].clone()],
        _ => vec![],
    };
    let mut allowed = false;
    for s in statements {
        let action = list(&s["Action"]).iter().any(|a| arn_matches(&a.to_ascii_lowercase(), "execute-api:invoke"));
        let resource = list(&s["Resource"]).iter().any(|r| arn_matches(r, arn));
        if !(action && resource) {
            continue;
        }
        match s["Effect"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("deny") => return Some(false),
            Some("allow") => allowed = true,
            _ => {}
        }
    }
    allowed.then_some(true)
}

/// The identity a request presents for `sources` (`header:X`, `query:y`), `None` when one is missing.
fn identity(sources: &[String], req: &RequestParts<'_>) -> Option<Vec<String>> {
    let query = event::query_pairs(req.query);
    sources
        .iter()
        .map(|s| match s.split_once(':') {
            Some(("header", h)) => req.headers.get(h).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).map(str::to_string),
            Some(("query", q)) => query.iter().find(|(k, _)| k == q).map(|(_, v)| v.clone()).filter(|v| !v.is_empty()),
            _ => None,
        })
        .collect()
}

fn answer(status: StatusCode, error_type: &str, body: Value) -> Response<Body> {
    let mut r = crate::response::gateway_error(status, error_type, "");
    *r.body_mut() = http_body_util::Full::new(Bytes::from(body.to_string()));
    r
}

fn unauthorized() -> Response<Body> {
    answer(StatusCode::UNAUTHORIZED, "UnauthorizedException", json!({"message": "Unauthorized"}))
}

fn failed(kind: ApiKind) -> Response<Body> {
    match kind {
        ApiKind::Rest => answer(StatusCode::INTERNAL_SERVER_ERROR, "AuthorizerConfigurationException", json!({"message": null})),
        ApiKind::Http => {
            answer(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerErrorException", json!({"message": "Internal Server Error"}))
        }
    }
}

fn denied(kind: ApiKind, explicit: bool) -> Response<Body> {
    match (kind, explicit) {
        (ApiKind::Http, _) => answer(StatusCode::FORBIDDEN, "ForbiddenException", json!({"message": "Forbidden"})),
        (ApiKind::Rest, true) => answer(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            json!({"Message": "User is not authorized to access this resource with an explicit deny"}),
        ),
        (ApiKind::Rest, false) => {
            answer(StatusCode::FORBIDDEN, "AccessDeniedException", json!({"Message": "User is not authorized to access this resource"}))
        }
    }
}

/// Everything one authorization needs.
pub struct Ask<'a> {
    /// The authorizer's name on its API.
    pub name: &'a str,
    /// The authorizer.
    pub authorizer: &'a Authorizer,
    /// The route asked for.
    pub route: &'a CompiledRoute,
    /// The request (its body is not part of an authorizer's event).
    pub req: &'a RequestParts<'a>,
    /// Path parameters.
    pub params: &'a BTreeMap<String, String>,
    /// esb's region (method ARNs).
    pub region: &'a str,
    /// The request's trace id.
    pub trace: &'a str,
}

/// Runs the authorizer for `ask`: `Ok` with what it allowed, or the answer the client gets.
pub async fn authorize(cache: &Cache, invoker: Arc<dyn Invoker>, ask: Ask<'_>) -> Result<LambdaCaller, Response<Body>> {
    let Authorizer::Lambda {
        function: Some(function), token, identity: sources, validation, ttl, payload_version, simple_responses, ..
    } = ask.authorizer
    else {
        return Err(denied(ask.route.api.kind, false));
    };
    let kind = ask.route.api.kind;
    let (req, route) = (ask.req, &ask.route.route);
    let arn = method_arn(ask.region, &route.api, &ask.route.api.stage, req.method, req.path);
    let values = identity(sources, req);
    // API Gateway answers 401 without asking the function when the identity is missing.
    let Some(values) = values.filter(|v| !v.is_empty() || sources.is_empty()) else { return Err(unauthorized()) };
    if let (true, Some(expr)) = (*token, validation) {
        if !values.first().is_some_and(|t| cache.validates(expr, t)) {
            return Err(unauthorized());
        }
    }
    let key = format!("{}\u{0}{}\u{0}{}", route.api, ask.name, values.join("\u{0}"));
    let cacheable = *ttl > 0 && !sources.is_empty();
    let cached = if cacheable { cache.get(&key) } else { None };
    let reply = match cached {
        Some(v) => v,
        None => {
            let event = authorizer_event(*token, payload_version.as_deref(), &arn, &values, &ask);
            let f = function.clone();
            let trace = ask.trace.to_string();
            let task = tokio::spawn(async move { invoker.invoke(&f, Bytes::from(event.to_string()), &trace).await });
            let inv = match tokio::time::timeout(TIMEOUT, task).await {
                Ok(Ok(Some(Ok(inv)))) => inv,
                other => {
                    tracing::warn!(authorizer = ask.name, ok = other.is_ok(), "authorizer did not answer");
                    return Err(failed(kind));
                }
            };
            match &inv.outcome {
                Outcome::Success => {}
                // `throw new Error("Unauthorized")` / `raise Exception("Unauthorized")`: API Gateway's 401.
                Outcome::FunctionError { error_message, .. } if error_message == "Unauthorized" => return Err(unauthorized()),
                other => {
                    tracing::warn!(authorizer = ask.name, outcome = ?other, "authorizer failed");
                    return Err(failed(kind));
                }
            }
            let Ok(v) = serde_json::from_slice::<Value>(&inv.body) else { return Err(failed(kind)) };
            if cacheable {
                cache.put(key, Duration::from_secs(u64::from(*ttl)), v.clone());
            }
            v
        }
    };
    let context = reply["context"].as_object().cloned().unwrap_or_default();
    if kind == ApiKind::Http && *simple_responses {
        return match reply["isAuthorized"].as_bool() {
            Some(true) => Ok(LambdaCaller { principal: None, context }),
            Some(false) => Err(denied(kind, false)),
            None => Err(failed(kind)),
        };
    }
    match evaluate(&reply["policyDocument"], &arn) {
        Some(true) => Ok(LambdaCaller { principal: reply["principalId"].as_str().map(str::to_string), context }),
        Some(false) => Err(denied(kind, true)),
        None => Err(denied(kind, false)),
    }
}

/// The event the authorizer function gets.
fn authorizer_event(token: bool, version: Option<&str>, arn: &str, values: &[String], ask: &Ask<'_>) -> Value {
    let (req, route, api) = (ask.req, &ask.route.route, &ask.route.api);
    if token {
        return json!({"type": "TOKEN", "authorizationToken": values.first(), "methodArn": arn});
    }
    if version == Some("2.0") {
        let mut e = event::v2(req, route, api, ask.params, &Caller::default());
        e["type"] = json!("REQUEST");
        e["routeArn"] = json!(arn);
        e["identitySource"] = json!(values);
        if let Some(o) = e.as_object_mut() {
            o.remove("body");
            o.remove("isBase64Encoded");
        }
        return e;
    }
    let mut e = event::v1(req, route, api, ask.params, &Caller::default());
    e["type"] = json!("REQUEST");
    e["methodArn"] = json!(arn);
    if let Some(o) = e.as_object_mut() {
        o.remove("body");
        o.remove("isBase64Encoded");
    }
    if version == Some("1.0") {
        e["version"] = json!("1.0");
        e["identitySource"] = json!(values.join(","));
        e["authorizationToken"] = json!(values.join(","));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/items/7";

    fn policy(effect: &str, resource: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]})
    }

    #[test]
    fn an_allow_must_match_and_an_explicit_deny_wins() {
        assert_eq!(evaluate(&policy("Allow", json!(ARN)), ARN), Some(true));
        assert_eq!(evaluate(&policy("Allow", json!("arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/*")), ARN), Some(true));
        assert_eq!(evaluate(&policy("Allow", json!("arn:aws:execute-api:*:*:*/prod/POST/*")), ARN), None, "another method");
        assert_eq!(
            evaluate(&policy("Allow", json!(["x", "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/*/GET/items/?"])), ARN),
            Some(true)
        );
        let both = json!({"Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"},
            {"Action": ["execute-api:*"], "Effect": "Deny", "Resource": ARN}
        ]});
        assert_eq!(evaluate(&both, ARN), Some(false));
        assert_eq!(evaluate(&json!({}), ARN), None, "no policy allows nothing");
        assert_eq!(
            evaluate(&json!({"Statement": {"Action": "s3:GetObject", "Effect": "Allow", "Resource": "*"}}), ARN),
            None,
            "another action"
        );
    }

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(arn_matches("a*c", "abbbc") && arn_matches("a?c", "abc") && arn_matches("*", ""));
        assert!(!arn_matches("a?c", "abbc") && !arn_matches("abc", "abcd") && !arn_matches("a*d", "abc"));
    }

    #[test]
    fn method_arns_name_the_api_stage_method_and_path() {
        let arn = method_arn("us-east-1", "Api", "prod", "GET", "/items/7");
        assert!(arn.starts_with("arn:aws:execute-api:us-east-1:123456789012:") && arn.ends_with("/prod/GET/items/7"), "{arn}");
    }

    #[test]
    fn answers_are_cached_until_they_expire() {
        let cache = Cache::default();
        cache.put("k".into(), Duration::from_secs(60), json!({"a": 1}));
        cache.put("old".into(), Duration::ZERO, json!({"b": 2}));
        assert_eq!(cache.get("k"), Some(json!({"a": 1})));
        assert_eq!(cache.get("old"), None, "expired");
        assert_eq!(cache.get("other"), None);
        assert!(cache.validates("Bearer [a-z]+", "Bearer abc") && !cache.validates("Bearer [a-z]+", "Bearer abc1"), "the whole token");
        assert!(!cache.validates("(", "x"), "an invalid expression refuses");
    }
}
