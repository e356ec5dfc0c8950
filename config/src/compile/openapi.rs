//! Routes from an API's OpenAPI definition: `DefinitionBody` (inline, or a local file through
//! `AWS::Include`) and `DefinitionUri` (a local YAML or JSON file) of `AWS::Serverless::Api` and
//! `AWS::Serverless::HttpApi`.
//!
//! Owns: reading paths and operations (`get` ... `x-amazon-apigateway-any-method`), their
//! `x-amazon-apigateway-integration` to a Lambda function of the template (the proxy `uri`, an
//! ARN or `arn:aws:apigateway:...:lambda:path/.../functions/<arn>/invocations`;
//! `payloadFormatVersion`, `timeoutInMillis`), the operation's `security` (an authorizer of the
//! API by name, `api_key`), and `x-amazon-apigateway-binary-media-types`. An API with a
//! definition is that definition, as the SAM translator makes it: the functions' `Api` events on
//! it add no route unless the API has `MergeDefinitions: true` (then they join, and the
//! definition's route wins a path and method both have). Must not: check routes (`apis::routes`
//! does, for every source alike).

use super::events::EventDecl;
use crate::error::Sink;
use crate::model::{ApiKind, Authorizer, Cors, FunctionSpec};
use crate::yaml::Node;
use std::collections::BTreeMap;
use std::path::Path;

/// OpenAPI's operations and the method each is.
const OPERATIONS: &[(&str, &str)] = &[
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("patch", "PATCH"),
    ("head", "HEAD"),
    ("options", "OPTIONS"),
    ("x-amazon-apigateway-any-method", "ANY"),
];

/// An API's definition, resolved, and where it came from (for errors).
pub(crate) struct Definition {
    pub api: String,
    pub kind: ApiKind,
    pub body: Node,
    /// `Resources.Api.Properties.DefinitionBody`, or the file of a DefinitionUri.
    pub origin: String,
    /// `MergeDefinitions: true`: the functions' events on this API add routes to the definition's.
    /// Without it the definition is the API, as the SAM translator makes it: the events only
    /// grant permissions.
    pub merge: bool,
}

/// Reads a `DefinitionUri` that is a local file (YAML or JSON). `None` (with a warning) when it is
/// in S3 or cannot be read as a definition.
pub(crate) fn load_uri(uri: &str, root: &Path, line: usize, sink: &mut Sink) -> Option<Node> {
    if uri.starts_with("s3://") || uri.contains("://") {
        sink.warn_at(line, format!("DefinitionUri `{uri}` is not a local file; its routes are not served (point it at the file, or inline it as DefinitionBody)"));
        return None;
    }
    let path = root.join(uri);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            sink.warn_at(line, format!("DefinitionUri `{uri}` cannot be read ({e}); its routes are not served"));
            return None;
        }
    };
    match crate::yaml::parse_document(&text) {
        Ok((doc, _)) => Some(doc),
        Err(e) => {
            sink.warn_at(
                line,
                format!(
                    "DefinitionUri `{uri}` is not YAML or JSON (line {}: {}); its routes are not served",
                    e.line.unwrap_or(0),
                    e.message
                ),
            );
            None
        }
    }
}

/// The function a proxy integration's `uri` invokes: the name in `...:function:NAME[:qualifier]`.
pub(crate) fn function_of_uri(uri: &str) -> Option<&str> {
    let after = uri.rsplit_once(":function:")?.1;
    let name = after.split(['/', ':']).next()?;
    (!name.is_empty()).then_some(name)
}

/// The key of the template's function `name` (its FunctionName or logical id) means.
pub(crate) fn function_key<'a>(name: &str, functions: &'a BTreeMap<String, FunctionSpec>) -> Option<&'a String> {
    functions.iter().find(|(k, f)| f.function_name == name || k.as_str() == name).map(|(k, _)| k)
}

/// What an API's definition adds: routes (as events of the functions they integrate), binary
/// media types, and the authorizers its security schemes define.
#[derive(Default)]
pub(crate) struct Found {
    pub events: Vec<EventDecl>,
    pub binary_media_types: Vec<String>,
    pub authorizers: BTreeMap<String, Authorizer>,
    /// An HTTP API definition's `x-amazon-apigateway-cors`.
    pub cors: Option<Cors>,
}

/// Reads `def`; `functions` maps keys to specs (an integration names a function by its physical
/// name), `known` are the authorizers the API declares in SAM's `Auth`.
pub(crate) fn routes(
    def: &Definition,
    functions: &BTreeMap<String, FunctionSpec>,
    known: &BTreeMap<String, Authorizer>,
    sink: &mut Sink,
) -> Found {
    let mut events = vec![];
    let mut authorizers = BTreeMap::new();
    let binary = def
        .body
        .get("x-amazon-apigateway-binary-media-types")
        .and_then(Node::as_seq)
        .map(|s| s.iter().filter_map(Node::as_scalar_str).map(|t| t.replace("~1", "/")).collect())
        .unwrap_or_default();
    let schemes = def.body.get("components").and_then(|c| c.get("securitySchemes")).or_else(|| def.body.get("securityDefinitions"));
    let top_security = def.body.get("security");
    for (path, item) in def.body.get("paths").and_then(Node::as_map).unwrap_or_default() {
        for (op, method) in OPERATIONS {
            let Some(operation) = item.get(op) else { continue };
            let Some(integration) = operation.get("x-amazon-apigateway-integration") else { continue };
            let ty = integration.get("type").and_then(Node::as_scalar_str).unwrap_or_default().to_ascii_lowercase();
            let where_ = format!("{} {path} {method}", def.origin);
            if ty != "aws_proxy" {
                if !ty.is_empty() {
                    sink.warn(format!("{where_}: a `{ty}` integration is not served (esb serves Lambda proxy integrations)"));
                }
                continue;
            }
            if let Some(subtype) = integration.get("integrationSubtype").and_then(Node::as_scalar_str) {
                sink.warn(format!("{where_}: an AWS service integration ({subtype}) is not served (esb serves Lambda proxy integrations)"));
                continue;
            }
            let uri = integration.get("uri").and_then(Node::as_scalar_str).unwrap_or_default();
            let Some(name) = function_of_uri(&uri) else {
                sink.warn(format!("{where_}: integration uri `{uri}` names no Lambda function; not served"));
                continue;
            };
            let Some(key) = function_key(name, functions) else {
                sink.warn(format!(
                    "{where_}: integrates function `{name}`, which is not a function esb runs from this template; not served"
                ));
                continue;
            };
            let (authorizer, api_key) = security(operation.get("security").or(top_security), schemes);
            if let Some(name) = authorizer.as_ref().filter(|n| !known.contains_key(*n)) {
                authorizers.insert(name.clone(), scheme_authorizer(schemes.and_then(|s| s.get(name))));
            }
            events.push(EventDecl {
                function: key.clone(),
                name: format!("OpenApi {method} {path}"),
                kind: def.kind,
                path: Some(path.clone()),
                method: Some(method.to_string()),
                api: Some(def.api.clone()),
                authorizer,
                api_key_required: api_key.then_some(true),
                payload_version: integration.get("payloadFormatVersion").and_then(Node::as_scalar_str),
                timeout_ms: integration.get("timeoutInMillis").and_then(Node::as_scalar_str).and_then(|t| t.parse().ok()),
                yaml_path: format!("{}.paths.{path}.{op}", def.origin),
                line: operation.line,
                path_line: item.line,
                method_line: operation.line,
            });
        }
    }
    Found { events, binary_media_types: binary, authorizers, cors: cors(def.body.get("x-amazon-apigateway-cors")) }
}

/// `x-amazon-apigateway-cors` (HTTP APIs): the same settings as `CorsConfiguration`, camel-cased.
fn cors(node: Option<&Node>) -> Option<Cors> {
    let node = node?;
    let list = |k: &str| node.get(k).and_then(Node::as_seq).unwrap_or_default().iter().filter_map(Node::as_scalar_str).collect::<Vec<_>>();
    Some(Cors {
        allow_origins: list("allowOrigins"),
        allow_methods: list("allowMethods"),
        allow_headers: list("allowHeaders"),
        expose_headers: list("exposeHeaders"),
        max_age: node.get("maxAge").and_then(Node::as_scalar_str).and_then(|m| m.parse().ok()),
        allow_credentials: node.get("allowCredentials").and_then(Node::as_scalar_str).is_some_and(|b| b == "true"),
    })
}

/// The authorizer a security scheme stands for. What esb cannot tell is an authorizer the gateway
/// refuses (fail closed), never an open route.
fn scheme_authorizer(scheme: Option<&Node>) -> Authorizer {
    let text = |n: Option<&Node>, k: &str| n.and_then(|n| n.get(k)).and_then(Node::as_scalar_str);
    let ext = scheme.and_then(|s| s.get("x-amazon-apigateway-authorizer"));
    let header_of = |source: Option<String>| {
        source.as_deref().and_then(|s| s.rsplit_once(".header.").map(|(_, h)| h.to_string())).unwrap_or_else(|| "Authorization".into())
    };
    match text(ext, "type").map(|t| t.to_ascii_lowercase()).as_deref() {
        Some("cognito_user_pools") => Authorizer::Cognito { header: text(scheme, "name").unwrap_or_else(|| "Authorization".into()) },
        Some("jwt") => {
            let cfg = ext.and_then(|e| e.get("jwtConfiguration"));
            let source =
                ext.and_then(|e| e.get("identitySource")).and_then(|s| s.as_scalar_str().or_else(|| s.as_seq()?.first()?.as_scalar_str()));
            Authorizer::Jwt {
                issuer: text(cfg, "issuer"),
                audience: cfg
                    .and_then(|c| c.get("audience"))
                    .and_then(Node::as_seq)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Node::as_scalar_str)
                    .collect(),
                header: header_of(source),
            }
        }
        Some(kind @ ("token" | "request")) => lambda_scheme(kind == "token", scheme, ext),
        _ if text(scheme, "x-amazon-apigateway-authtype").is_some_and(|t| t.eq_ignore_ascii_case("awsSigv4")) => Authorizer::Iam,
        _ => Authorizer::refused_lambda("(a security scheme esb cannot check)"),
    }
}

/// A Lambda authorizer's security scheme: `authorizerUri` (its function is bound with SAM's, in
/// `apis::bind_authorizers`), `identitySource` (`method.request.header.X`, `$request.querystring.y`,
/// comma-separated or a list; a TOKEN's header is the scheme's `name`),
/// `identityValidationExpression`, `authorizerResultTtlInSeconds`, and for HTTP APIs
/// `authorizerPayloadFormatVersion` and `enableSimpleResponses`.
fn lambda_scheme(token: bool, scheme: Option<&Node>, ext: Option<&Node>) -> Authorizer {
    let text = |n: Option<&Node>, k: &str| n.and_then(|n| n.get(k)).and_then(Node::as_scalar_str);
    let mut identity = identity_sources(ext.and_then(|e| e.get("identitySource")));
    if token {
        identity = vec![format!("header:{}", text(scheme, "name").unwrap_or_else(|| "Authorization".into()))];
    }
    let version = text(ext, "authorizerPayloadFormatVersion");
    Authorizer::Lambda {
        function_arn: text(ext, "authorizerUri").unwrap_or_default(),
        function: None,
        token,
        identity,
        validation: text(ext, "identityValidationExpression"),
        ttl: text(ext, "authorizerResultTtlInSeconds").and_then(|t| t.parse().ok()).unwrap_or(if version.is_some() { 0 } else { 300 }),
        simple_responses: text(ext, "enableSimpleResponses").is_some_and(|b| b == "true"),
        payload_version: version,
    }
}

/// API Gateway's identity sources (`method.request.header.X`, `$request.querystring.y`; a
/// comma-separated string or a list) as esb's (`header:X`, `query:y`); others (stage variables,
/// context) are not identities esb reads.
pub(crate) fn identity_sources(node: Option<&Node>) -> Vec<String> {
    let raw: Vec<String> = match node {
        Some(n) if n.as_seq().is_some() => n.as_seq().unwrap_or_default().iter().filter_map(Node::as_scalar_str).collect(),
        Some(n) => n.as_scalar_str().map(|s| s.split(',').map(|p| p.trim().to_string()).collect()).unwrap_or_default(),
        None => vec![],
    };
    raw.iter()
        .filter_map(|s| {
            let s = s.trim_start_matches("method.request.").trim_start_matches("$request.");
            s.strip_prefix("header.")
                .map(|h| format!("header:{h}"))
                .or_else(|| s.strip_prefix("querystring.").map(|q| format!("query:{q}")))
        })
        .collect()
}

/// An operation's `security`: the first named scheme that is not an API key is its authorizer;
/// an `api_key` scheme (`x-api-key` in the header) requires the API key.
fn security(security: Option<&Node>, schemes: Option<&Node>) -> (Option<String>, bool) {
    let mut authorizer = None;
    let mut api_key = false;
    for requirement in security.and_then(Node::as_seq).unwrap_or_default() {
        for (name, _) in requirement.as_map().unwrap_or_default() {
            let scheme = schemes.and_then(|s| s.get(name));
            let is_key = scheme.and_then(|s| s.get("type")).and_then(Node::as_scalar_str).as_deref() == Some("apiKey")
                && scheme.and_then(|s| s.get("x-amazon-apigateway-authtype")).is_none();
            if is_key || name == "api_key" {
                api_key = true;
            } else if authorizer.is_none() {
                authorizer = Some(name.clone());
            }
        }
    }
    (authorizer, api_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_document;

    #[test]
    fn the_function_of_an_integration_uri() {
        let rest = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:Items/invocations";
        assert_eq!(function_of_uri(rest), Some("Items"));
        assert_eq!(function_of_uri("arn:aws:lambda:us-east-1:123456789012:function:Items:live"), Some("Items"));
        assert_eq!(function_of_uri("http://example.com"), None);
    }

    #[test]
    fn operations_with_lambda_proxy_integrations_become_routes() {
        let text = r#"
openapi: 3.0.1
x-amazon-apigateway-binary-media-types: ["image~1png"]
x-amazon-apigateway-cors: {allowOrigins: ["https://a.example"], allowMethods: [GET], maxAge: 60}
components:
  securitySchemes:
    key: {type: apiKey, name: x-api-key, in: header}
paths:
  /items/{id}:
    get:
      security: [{key: []}]
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:items-fn/invocations
        timeoutInMillis: 5000
    x-amazon-apigateway-any-method:
      x-amazon-apigateway-integration: {type: AWS_PROXY, uri: 'arn:aws:lambda:us-east-1:123456789012:function:Other', payloadFormatVersion: '2.0'}
  /mock:
    get:
      x-amazon-apigateway-integration: {type: mock}
"#;
        let (body, _) = parse_document(text).unwrap();
        let def = Definition {
            api: "Api".into(),
            kind: ApiKind::Rest,
            body,
            origin: "Resources.Api.Properties.DefinitionBody".into(),
            merge: false,
        };
        let spec = |name: &str| FunctionSpec {
            function_name: name.into(),
            runtime: "python3.13".into(),
            base: crate::model::BaseImage::Python { version: "3.13".into() },
            handler: "app.handler".into(),
            code: crate::model::Code::Dir { path: "src".into() },
            image: String::new(),
            dockerfile: String::new(),
            timeout: 3,
            memory_size: 128,
            architecture: "x86_64".into(),
            environment: BTreeMap::new(),
            reserved_concurrency: None,
            provisioned_concurrency: None,
            layers: vec![],
            schedules: vec![],
            s3_events: vec![],
            stream_events: vec![],
            async_invoke: Default::default(),
            build: None,
        };
        let functions: BTreeMap<String, FunctionSpec> =
            [("Items".to_string(), spec("items-fn")), ("Other".to_string(), spec("Other"))].into();
        let mut sink = Sink::new("template.yaml");
        let found = routes(&def, &functions, &BTreeMap::new(), &mut sink);
        let events = found.events;
        assert_eq!(found.binary_media_types, ["image/png"]);
        assert_eq!(found.cors.map(|c| c.allow_origins), Some(vec!["https://a.example".to_string()]));
        assert!(found.authorizers.is_empty(), "an API key is not an authorizer");
        let got: Vec<String> = events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {:?} {:?}",
                    e.function,
                    e.method.as_deref().unwrap(),
                    e.path.as_deref().unwrap(),
                    e.api_key_required,
                    e.timeout_ms
                )
            })
            .collect();
        assert_eq!(got, ["Items GET /items/{id} Some(true) Some(5000)", "Other ANY /items/{id} None None"]);
        assert_eq!(events[1].payload_version.as_deref(), Some("2.0"));
        assert!(sink.warnings.iter().any(|w| w.contains("a `mock` integration is not served")), "{:?}", sink.warnings);
    }

    #[test]
    fn security_schemes_become_authorizers_and_unknown_ones_fail_closed() {
        let (doc, _) = parse_document(
            "pool: {type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: cognito_user_pools, x-amazon-apigateway-authorizer: {type: cognito_user_pools, providerARNs: [x]}}\n\
             jwt: {type: oauth2, x-amazon-apigateway-authorizer: {type: jwt, identitySource: '$request.header.X-Token', jwtConfiguration: {issuer: 'https://issuer', audience: [a]}}}\n\
             fn: {type: apiKey, name: X-Token, in: header, x-amazon-apigateway-authorizer: {type: token, authorizerUri: 'arn:x', authorizerResultTtlInSeconds: 60}}\n\
             req: {type: apiKey, name: Unused, in: header, x-amazon-apigateway-authorizer: {type: request, authorizerUri: 'arn:y', identitySource: '$request.header.X-User, $request.querystring.t', authorizerPayloadFormatVersion: '2.0', enableSimpleResponses: true}}\n\
             iam: {type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: awsSigv4}\n",
        )
        .unwrap();
        assert_eq!(scheme_authorizer(doc.get("pool")), Authorizer::Cognito { header: "Authorization".into() });
        assert_eq!(
            scheme_authorizer(doc.get("jwt")),
            Authorizer::Jwt { issuer: Some("https://issuer".into()), audience: vec!["a".into()], header: "X-Token".into() }
        );
        let Authorizer::Lambda { function_arn, token, identity, ttl, .. } = scheme_authorizer(doc.get("fn")) else {
            panic!("a Lambda authorizer")
        };
        assert_eq!((function_arn.as_str(), token, identity, ttl), ("arn:x", true, vec!["header:X-Token".to_string()], 60));
        let Authorizer::Lambda { token, identity, ttl, payload_version, simple_responses, .. } = scheme_authorizer(doc.get("req")) else {
            panic!("a Lambda authorizer")
        };
        assert_eq!((token, ttl, payload_version.as_deref(), simple_responses), (false, 0, Some("2.0"), true));
        assert_eq!(identity, ["header:X-User", "query:t"]);
        assert_eq!(scheme_authorizer(doc.get("iam")), Authorizer::Iam);
        assert!(matches!(scheme_authorizer(None), Authorizer::Lambda { .. }), "an unknown scheme is refused, never open");
    }

    /// A template with functions `Items` and `Other` (code in `src`) and `resources` appended.
    fn compiled(resources: &str, files: &[(&str, &str)]) -> crate::compile::Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/app.py"), "def handler(e, c): return 1\n").unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let text = format!(
            "Resources:\n  Items:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src\n      Handler: app.handler\n      Runtime: python3.13\n      Events: {{E: {{Type: Api, Properties: {{RestApiId: !Ref Api, Path: /from-event, Method: get}}}}}}\n  Other:\n    Type: AWS::Serverless::Function\n    Properties: {{CodeUri: src, Handler: app.handler, Runtime: python3.13}}\n{resources}"
        );
        let settings =
            crate::compile::Settings { project: "p".into(), tag: "t".into(), region: "us-east-1".into(), parameters: BTreeMap::new() };
        crate::compile::compile(&dir.path().join("template.yaml"), &text, &settings).unwrap()
    }

    fn served(p: &crate::compile::Project) -> Vec<String> {
        p.routing.routes.iter().map(|r| format!("{} {} {}", r.method, r.path, r.function)).collect()
    }

    const BODY: &str = "      DefinitionBody:\n        openapi: 3.0.1\n        paths:\n          /items:\n            get:\n              x-amazon-apigateway-integration:\n                type: aws_proxy\n                httpMethod: POST\n                uri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Items.Arn}/invocations\n          /other/{proxy+}:\n            x-amazon-apigateway-any-method:\n              x-amazon-apigateway-integration: {type: aws_proxy, httpMethod: POST, uri: !Sub 'arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Other.Arn}/invocations'}\n";

    #[test]
    fn an_api_with_a_definition_body_serves_its_definition_and_not_the_events_on_it() {
        let p = compiled(&format!("  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: prod\n{BODY}"), &[]);
        assert_eq!(served(&p), ["ANY /other/{proxy+} Other", "GET /items Items"]);
    }

    #[test]
    fn merge_definitions_adds_the_events_routes() {
        let p = compiled(
            &format!(
                "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: prod\n      MergeDefinitions: true\n{BODY}"
            ),
            &[],
        );
        assert_eq!(served(&p), ["ANY /other/{proxy+} Other", "GET /from-event Items", "GET /items Items"]);
    }

    #[test]
    fn a_definition_uri_file_is_read_with_literal_arns() {
        let file = "openapi: 3.0.1\npaths:\n  /file:\n    post:\n      x-amazon-apigateway-integration:\n        type: aws_proxy\n        uri: arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:Other/invocations\n";
        let p =
            compiled("  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      DefinitionUri: api.yaml\n", &[("api.yaml", file)]);
        assert_eq!(served(&p), ["POST /file Other"]);
        assert_eq!(p.routing.routes[0].payload_version, "2.0", "an HTTP API's default payload");
    }
}
