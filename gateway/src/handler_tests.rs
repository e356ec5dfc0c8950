//! The request pipeline against a fake invoker: routing, auth, limits and mapping without Docker.

use crate::auth::{users, ApiKeys, Auth, Tokens, User, Users};
use crate::router::Router;
use crate::{Gateway, Invoker, Limits};
use async_trait::async_trait;
use bytes::Bytes;
use esb_actors::InvokeFailure;
use esb_config::model::{ApiKind, ApiSpec, Authorizer, Cors, Route, RoutingFile};
use esb_runtime::rie::{Invocation, Outcome};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers like the echo fixture: `Echo` returns the event as the body, `Slow` sleeps, `Bad` returns
/// a malformed result, `Boom` raises.
#[derive(Default)]
struct Fake {
    seen: Mutex<Vec<(String, Value, String)>>,
}

#[async_trait]
impl Invoker for Fake {
    async fn invoke(&self, function: &str, payload: Bytes, trace_id: &str) -> Option<Result<Invocation, InvokeFailure>> {
        let event: Value = serde_json::from_slice(&payload).unwrap();
        self.seen.lock().unwrap().push((function.to_string(), event.clone(), trace_id.to_string()));
        let (body, outcome) = match function {
            "Echo" => (json!({ "statusCode": 200, "body": event.to_string() }).to_string(), Outcome::Success),
            "Slow" => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                ("{}".into(), Outcome::Success)
            }
            "Bad" => (json!({ "body": "no status" }).to_string(), Outcome::Success),
            "Boom" => ("{}".into(), Outcome::FunctionError { error_type: "E".into(), error_message: "m".into() }),
            // A Lambda authorizer: TOKEN `allow`/`deny`/`unauthorized`, or a simple answer on the
            // first identity value (`yes`).
            "Auth" => {
                let token = event["authorizationToken"].as_str().or(event["identitySource"][0].as_str()).unwrap_or_default();
                let effect = if token == "deny" { "Deny" } else { "Allow" };
                let body = match token {
                    "unauthorized" => {
                        return Some(Ok(Invocation {
                            body: Bytes::new(),
                            outcome: Outcome::FunctionError { error_type: "Error".into(), error_message: "Unauthorized".into() },
                            duration: Duration::ZERO,
                        }))
                    }
                    "yes" => json!({"isAuthorized": true, "context": {"tenant": "t1"}}),
                    "no" => json!({"isAuthorized": false}),
                    _ => json!({"principalId": "user-1", "context": {"tenant": "t1", "n": 2},
                        "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}),
                };
                (body.to_string(), Outcome::Success)
            }
            _ => return None,
        };
        Some(Ok(Invocation { body: Bytes::from(body), outcome, duration: Duration::ZERO }))
    }
    fn has(&self, function: &str) -> bool {
        matches!(function, "Echo" | "Slow" | "Bad" | "Boom")
    }
    async fn enqueue(&self, function: &str, payload: String, trace_id: &str) -> Result<String, esb_actors::events::EnqueueError> {
        let event: Value = serde_json::from_str(&payload).unwrap();
        self.seen.lock().unwrap().push((function.to_string(), event, trace_id.to_string()));
        match function {
            "Echo" => Ok("event-1".into()),
            _ => Err(esb_actors::events::EnqueueError::Full { function: function.into(), capacity: 1 }),
        }
    }
}

fn route(api: &str, method: &str, path: &str, function: &str, version: &str) -> Route {
    Route {
        api: api.into(),
        method: method.into(),
        path: path.into(),
        function: function.into(),
        payload_version: version.into(),
        authorizer: None,
        api_key_required: false,
        timeout_ms: None,
        source: format!("{function}.E"),
    }
}

fn gateway(fake: Arc<Fake>) -> Arc<Gateway> {
    gateway_with(fake, None)
}

fn gateway_with(fake: Arc<Fake>, credentials: Option<crate::sigv4::Credentials>) -> Arc<Gateway> {
    let cors = Cors { allow_origins: vec!["*".into()], allow_methods: vec!["GET".into()], ..Default::default() };
    let rest = ApiSpec {
        kind: ApiKind::Rest,
        stage: "Prod".into(),
        authorizers: [("Cog".to_string(), Authorizer::Cognito { header: "Authorization".into() }), ("L".to_string(), Authorizer::Iam)]
            .into(),
        cors: Some(cors),
        binary_media_types: vec![],
        stage_variables: Default::default(),
    };
    let http_api = ApiSpec::new(ApiKind::Http, "$default");
    let mut private = route("Rest", "GET", "/private", "Echo", "1.0");
    private.authorizer = Some("Cog".into());
    let mut keyed = route("Rest", "GET", "/keyed", "Echo", "1.0");
    keyed.api_key_required = true;
    let mut iam = route("Rest", "GET", "/iam", "Echo", "1.0");
    iam.authorizer = Some("L".into());
    let mut slow = route("Rest", "GET", "/slow", "Slow", "1.0");
    slow.timeout_ms = Some(100);
    let routing = RoutingFile {
        version: 1,
        apis: [("Rest".to_string(), rest), ("Http".to_string(), http_api)].into(),
        routes: vec![
            route("Rest", "GET", "/items/{id}", "Echo", "1.0"),
            route("Rest", "POST", "/items/{id}", "Echo", "1.0"),
            route("Http", "ANY", "/v2/{proxy+}", "Echo", "2.0"),
            route("Rest", "GET", "/bad", "Bad", "1.0"),
            route("Rest", "GET", "/boom", "Boom", "1.0"),
            route("Rest", "GET", "/gone", "Gone", "1.0"),
            private,
            keyed,
            iam,
            slow,
        ],
        unavailable: vec![esb_config::model::UnavailableRoute {
            method: "GET".into(),
            path: "/java/{id}".into(),
            function: "Java".into(),
            reason: "runtime java25: not yet".into(),
        }],
        function_urls: vec![esb_config::model::FunctionUrl { id: "echo".into(), function: "Echo".into(), iam: false, cors: None }],
    };
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let users = Users::new(vec![User { username: "alice".into(), hash: users::hash_password("pw").unwrap(), groups: vec![], email: None }])
        .unwrap();
    let auth = Auth::new(Tokens::new(&key.serialize_pem(), "demo").unwrap(), users, ApiKeys::new(&["key"]));
    let limits = Limits { max_body: 1024, ..Limits::default() };
    Arc::new(Gateway::new(Router::new(&routing), fake, auth, limits, credentials))
}

async fn send(gw: &Arc<Gateway>, req: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap, Value) {
    let r = gw.clone().handle(req, "10.1.2.3:5555".parse().unwrap()).await;
    let (parts, body) = r.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())))
}

fn get(path: &str) -> http::request::Builder {
    Request::builder().method("GET").uri(path).header("host", "localhost")
}

fn empty(b: http::request::Builder) -> Request<Full<Bytes>> {
    b.body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test]
async fn routes_answer_with_events_and_api_gateway_errors() {
    let fake = Arc::new(Fake::default());
    let gw = gateway(fake.clone());
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
    let (status, headers, body) = send(&gw, empty(get("/items/42?x=1").header("x-amzn-trace-id", trace))).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-amzn-trace-id"], trace, "the caller's trace id is kept");
    let event = body;
    assert_eq!(
        (event["pathParameters"]["id"].as_str(), event["requestContext"]["identity"]["sourceIp"].as_str()),
        (Some("42"), Some("10.1.2.3"))
    );
    assert_eq!(fake.seen.lock().unwrap()[0].2, trace, "and passed to the function");

    let (status, _, event) = send(&gw, empty(get("/v2/a/b").method("DELETE"))).await;
    assert_eq!((status, event["routeKey"].as_str()), (StatusCode::OK, Some("ANY /v2/{proxy+}")));

    // No route: a REST API's 403 "Missing Authentication Token" (these APIs share the host).
    let (status, headers, body) = send(&gw, empty(get("/nope"))).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"message": "Missing Authentication Token"})));
    assert_eq!(headers["x-amzn-errortype"], "MissingAuthenticationTokenException");
    let (status, _, body) = send(&gw, empty(get("/java/7"))).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found: GET /java/{id} is function Java, which esb cannot run here: runtime java25: not yet"})
        ),
        "a route of a left-out function names it and why"
    );
    assert_eq!(send(&gw, empty(get("/java/7").method("POST"))).await.0, StatusCode::FORBIDDEN, "other methods: no route");
    // A method the REST resource lacks is also "Missing Authentication Token" (API Gateway has no
    // 405); on an HTTP API route it is 404.
    let (status, _, body) = send(&gw, empty(get("/items/1").method("DELETE"))).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"message": "Missing Authentication Token"})));
    assert_eq!(send(&gw, empty(get("/bad"))).await.2, json!({"message": "Internal server error"}));
    assert_eq!(send(&gw, empty(get("/boom"))).await.0, StatusCode::BAD_GATEWAY);
    assert_eq!(send(&gw, empty(get("/gone"))).await.0, StatusCode::BAD_GATEWAY);
    let (status, _, body) = send(&gw, empty(get("/slow"))).await;
    assert_eq!((status, body), (StatusCode::GATEWAY_TIMEOUT, json!({"message": "Endpoint request timed out"})));
    let big = get("/items/1").method("POST").body(Full::new(Bytes::from(vec![b'a'; 2048]))).unwrap();
    assert_eq!(send(&gw, big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn preflights_are_answered_by_the_gateway() {
    let gw = gateway(Arc::new(Fake::default()));
    let pre = get("/items/1").method("OPTIONS").header("origin", "https://app").header("access-control-request-method", "GET");
    let (status, headers, _) = send(&gw, empty(pre)).await;
    assert_eq!((status, headers["access-control-allow-origin"].to_str().unwrap()), (StatusCode::OK, "*"), "a REST API's mock OPTIONS: 200");
    // SAM's mock OPTIONS method answers any OPTIONS on a REST resource, preflight or not.
    let (status, headers, _) = send(&gw, empty(get("/items/1").method("OPTIONS").header("origin", "https://app"))).await;
    assert_eq!((status, headers["access-control-allow-origin"].to_str().unwrap()), (StatusCode::OK, "*"));
}

#[tokio::test]
async fn auth_flow_tokens_and_api_keys() {
    let gw = gateway(Arc::new(Fake::default()));
    let login = |key: Option<&str>, pw: &str| {
        let mut b = Request::builder().method("POST").uri("/user/auth/v1").header("host", "localhost");
        if let Some(k) = key {
            b = b.header("x-api-key", k);
        }
        b.body(Full::new(Bytes::from(json!({"AuthParameters": {"USERNAME": "alice", "PASSWORD": pw}}).to_string()))).unwrap()
    };
    assert_eq!(send(&gw, login(None, "pw")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(&gw, login(Some("wrong"), "pw")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(&gw, login(Some("key"), "bad")).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, body) = send(&gw, login(Some("key"), "pw")).await;
    assert_eq!(status, 200);
    let token = body["AuthenticationResult"]["IdToken"].as_str().unwrap().to_string();

    let (status, _, body) = send(&gw, empty(get("/private"))).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"message": "Unauthorized"})));
    let (status, _, body) = send(&gw, empty(get("/private").header("authorization", format!("Bearer {token}")))).await;
    assert_eq!(status, 200);
    assert_eq!(body["requestContext"]["authorizer"]["claims"]["cognito:username"], "alice");

    assert_eq!(send(&gw, empty(get("/keyed"))).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(&gw, empty(get("/keyed").header("x-api-key", "key"))).await.0, StatusCode::OK);
    // Without credentials (plain HTTP on loopback) an AWS_IAM route is served unsigned, as the
    // Lambda Invoke API is there; with them it checks SigV4 (`an_aws_iam_route_...`).
    assert_eq!(send(&gw, empty(get("/iam"))).await.0, StatusCode::OK);
    assert_eq!(send(&gw, empty(get("/.well-known/jwks.json"))).await.2["keys"][0]["alg"], "ES256");
}

#[tokio::test]
async fn a_reload_swaps_routes_between_requests_and_not_within_one() {
    let fake = Arc::new(Fake::default());
    let gw = gateway(fake.clone());
    // A slow request in flight when the routes change finishes on the routes it started with.
    let in_flight = tokio::spawn({
        let gw = gw.clone();
        async move { send(&gw, empty(get("/slow"))).await.0 }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let api = ApiSpec::new(ApiKind::Rest, "Prod");
    let routing = RoutingFile {
        version: 1,
        apis: [("Rest".to_string(), api)].into(),
        routes: vec![route("Rest", "GET", "/fresh", "Echo", "1.0")],
        ..Default::default()
    };
    gw.reload(Router::new(&routing), fake.clone());
    assert_eq!(send(&gw, empty(get("/fresh"))).await.0, StatusCode::OK, "the new route answers at once");
    assert_eq!(
        send(&gw, empty(get("/items/1"))).await.0,
        StatusCode::FORBIDDEN,
        "the old one is gone (REST: Missing Authentication Token)"
    );
    assert_eq!(in_flight.await.unwrap(), StatusCode::GATEWAY_TIMEOUT, "the in-flight request kept its route (and its 100 ms timeout)");
}

#[tokio::test]
async fn an_event_invocation_is_accepted_with_its_request_id_or_refused_like_lambda() {
    let fake = Arc::new(Fake::default());
    let gw = gateway(fake.clone());
    let event = |function: &str, body: &str| {
        Request::builder()
            .method("POST")
            .uri(format!("/2015-03-31/functions/{function}/invocations"))
            .header("host", "localhost")
            .header("x-amz-invocation-type", "Event")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    };
    let (status, headers, _) = send(&gw, event("Echo", "{\"n\": 1}")).await;
    assert_eq!(
        (status, headers["x-amzn-requestid"].to_str().unwrap()),
        (StatusCode::ACCEPTED, "event-1"),
        "the event's id, not the request's"
    );
    assert_eq!(fake.seen.lock().unwrap().last().unwrap().1, json!({"n": 1}));
    let (status, _, body) = send(&gw, event("Boom", "{}")).await;
    assert_eq!((status, body["__type"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("TooManyRequestsException")));
    assert!(body["message"].as_str().unwrap().contains("queue of Boom is full"), "{body}");
    let (status, _, body) = send(&gw, event("Echo", "not json")).await;
    assert_eq!((status, body["__type"].as_str()), (StatusCode::BAD_REQUEST, Some("InvalidRequestContentException")));
}

#[tokio::test]
async fn an_http1_request_without_one_host_header_is_a_400() {
    let gw = gateway(Arc::new(Fake::default()));
    let none = Request::builder().method("GET").uri("/items/1").body(Full::new(Bytes::new())).unwrap();
    assert_eq!(send(&gw, none).await.0, StatusCode::BAD_REQUEST);
    let two = get("/items/1").header("host", "other").body(Full::new(Bytes::new())).unwrap();
    assert_eq!(send(&gw, two).await.0, StatusCode::BAD_REQUEST);
    let h2 = Request::builder().method("GET").uri("https://localhost/items/1").version(http::Version::HTTP_2);
    assert_ne!(send(&gw, h2.body(Full::new(Bytes::new())).unwrap()).await.0, StatusCode::BAD_REQUEST, "HTTP/2 has :authority");
}

#[tokio::test]
async fn with_only_http_apis_no_route_is_a_404_as_http_apis_answer() {
    let fake = Arc::new(Fake::default());
    let gw = gateway(fake.clone());
    let api = ApiSpec::new(ApiKind::Http, "$default");
    let routing = RoutingFile {
        version: 1,
        apis: [("Http".to_string(), api)].into(),
        routes: vec![route("Http", "GET", "/only-get", "Echo", "2.0")],
        ..Default::default()
    };
    gw.reload(Router::new(&routing), fake.clone());
    let (status, _, body) = send(&gw, empty(get("/nope"))).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"message": "Not Found"})));
    let (status, _, body) = send(&gw, empty(get("/only-get").method("POST"))).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"message": "Not Found"})), "a method the route lacks");
}

#[tokio::test]
async fn an_aws_iam_route_takes_a_request_signed_with_esbs_credentials_and_refuses_others() {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let creds =
        crate::sigv4::Credentials { access_key_id: "esb-key".into(), secret_access_key: "secret".into(), region: "us-east-1".into() };
    let gw = gateway_with(Arc::new(Fake::default()), Some(creds));
    let signed = |secret: &str, service: &str| {
        let identity = aws_credential_types::Credentials::new("esb-key", secret, None, None, "t").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(service)
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let uri = "https://localhost/iam";
        let signable = SignableRequest::new("GET", uri, [("host", "localhost")].into_iter(), SignableBody::Bytes(b"")).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut req = get("/iam").body(Full::new(Bytes::new())).unwrap();
        instructions.apply_to_request_http1x(&mut req);
        req
    };
    let (status, headers, body) = send(&gw, empty(get("/iam"))).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"message": "Missing Authentication Token"})), "unsigned");
    assert_eq!(headers["x-amzn-errortype"], "MissingAuthenticationTokenException");
    let (status, _, body) = send(&gw, signed("wrong", "execute-api")).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::FORBIDDEN, Some("The request signature we calculated does not match the signature you provided."))
    );
    assert_eq!(send(&gw, signed("secret", "lambda")).await.0, StatusCode::FORBIDDEN, "a signature for another service");
    let (status, _, event) = send(&gw, signed("secret", "execute-api")).await;
    assert_eq!(status, StatusCode::OK, "{event}");
    let identity = &event["requestContext"]["identity"];
    assert_eq!((identity["accessKey"].as_str(), identity["user"].as_str()), (Some("esb-key"), Some("esb")), "{identity}");
    assert_eq!(identity["userArn"], "arn:aws:iam::123456789012:user/esb");
}

#[tokio::test]
async fn lambda_authorizers_allow_deny_cache_and_pass_their_context() {
    let fake = Arc::new(Fake::default());
    let gw = gateway(fake.clone());
    let lambda = |token: bool, ttl: u32, version: Option<&str>, simple: bool, identity: &str| Authorizer::Lambda {
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:Auth".into(),
        function: Some("Auth".into()),
        token,
        identity: vec![identity.into()],
        validation: None,
        ttl,
        payload_version: version.map(str::to_string),
        simple_responses: simple,
    };
    let rest = ApiSpec {
        kind: ApiKind::Rest,
        stage: "prod".into(),
        authorizers: [("Tok".to_string(), lambda(true, 300, None, false, "header:Authorization"))].into(),
        cors: None,
        binary_media_types: vec![],
        stage_variables: Default::default(),
    };
    let http_api = ApiSpec {
        kind: ApiKind::Http,
        stage: "$default".into(),
        authorizers: [("Simple".to_string(), lambda(false, 0, Some("2.0"), true, "header:x-ok"))].into(),
        cors: None,
        binary_media_types: vec![],
        stage_variables: Default::default(),
    };
    let mut tok = route("Rest", "GET", "/tok/{id}", "Echo", "1.0");
    tok.authorizer = Some("Tok".into());
    let mut simple = route("Http", "GET", "/simple", "Echo", "2.0");
    simple.authorizer = Some("Simple".into());
    let routing = RoutingFile {
        version: 1,
        apis: [("Rest".to_string(), rest), ("Http".to_string(), http_api)].into(),
        routes: vec![tok, simple],
        ..Default::default()
    };
    gw.reload(Router::new(&routing), fake.clone());
    let calls = |fake: &Fake| fake.seen.lock().unwrap().iter().filter(|(f, ..)| f == "Auth").count();

    // TOKEN: no token is 401 without asking the function; allow passes principal and context.
    assert_eq!(send(&gw, empty(get("/tok/1"))).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(calls(&fake), 0);
    let (status, _, event) = send(&gw, empty(get("/tok/1").header("authorization", "allow"))).await;
    assert_eq!(status, StatusCode::OK, "{event}");
    let a = &event["requestContext"]["authorizer"];
    assert_eq!((a["principalId"].as_str(), a["tenant"].as_str(), a["n"].as_u64()), (Some("user-1"), Some("t1"), Some(2)), "{a}");
    let asked = fake.seen.lock().unwrap().iter().find(|(f, ..)| f == "Auth").map(|(_, e, _)| e.clone()).unwrap();
    assert_eq!(asked["type"], "TOKEN");
    assert!(asked["methodArn"].as_str().unwrap().ends_with("/prod/GET/tok/1"), "{asked}");
    // Cached for the TTL: a second request with the same token does not ask again. The cached
    // policy is evaluated against each request's ARN, as API Gateway does: it allowed /tok/1 only.
    assert_eq!(send(&gw, empty(get("/tok/1").header("authorization", "allow"))).await.0, StatusCode::OK);
    let (status, _, body) = send(&gw, empty(get("/tok/2").header("authorization", "allow"))).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"Message": "User is not authorized to access this resource"})));
    assert_eq!(calls(&fake), 1, "the cached policy answered both");
    let (status, _, body) = send(&gw, empty(get("/tok/1").header("authorization", "deny"))).await;
    assert_eq!(
        (status, body),
        (StatusCode::FORBIDDEN, json!({"Message": "User is not authorized to access this resource with an explicit deny"}))
    );
    let (status, _, body) = send(&gw, empty(get("/tok/1").header("authorization", "unauthorized"))).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"message": "Unauthorized"})));

    // HTTP API simple responses: isAuthorized, context under authorizer.lambda.
    let (status, _, event) = send(&gw, empty(get("/simple").header("x-ok", "yes"))).await;
    assert_eq!((status, &event["requestContext"]["authorizer"]["lambda"]["tenant"]), (StatusCode::OK, &json!("t1")), "{event}");
    let (status, _, body) = send(&gw, empty(get("/simple").header("x-ok", "no"))).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"message": "Forbidden"})));
    assert_eq!(send(&gw, empty(get("/simple"))).await.0, StatusCode::UNAUTHORIZED, "identity source missing");
}

#[tokio::test]
async fn a_function_url_host_reaches_its_function_on_every_path_with_the_url_event() {
    let gw = gateway(Arc::new(Fake::default()));
    let req = Request::builder().method("PUT").uri("/any/path?x=1").header("host", "echo.lambda-url.localhost:8443");
    let (status, _, event) = send(&gw, req.body(Full::new(Bytes::from_static(b"hi"))).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!((event["version"].as_str(), event["routeKey"].as_str()), (Some("2.0"), Some("$default")));
    assert_eq!(
        (event["rawPath"].as_str(), event["rawQueryString"].as_str(), event["body"].as_str()),
        (Some("/any/path"), Some("x=1"), Some("hi"))
    );
    assert_eq!(
        (event["requestContext"]["apiId"].as_str(), event["requestContext"]["http"]["method"].as_str()),
        (Some("echo"), Some("PUT"))
    );
    // Another host is the API's.
    let (status, ..) = send(&gw, empty(Request::builder().uri("/any/path").header("host", "other.lambda-url.localhost"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no such URL: the APIs' no-route answer");
}
