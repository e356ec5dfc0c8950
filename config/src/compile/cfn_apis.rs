//! APIs written as plain CloudFormation, as hand-written templates and CDK output have them:
//! `AWS::ApiGateway::RestApi` with its `Resource`s, `Method`s and `Stage` (or a `Body`), and
//! `AWS::ApiGatewayV2::Api` (HTTP) with its `Route`s and `Integration`s, its quick-create `Target`
//! or a `Body`.
//!
//! Owns: turning those resources into the same APIs and route declarations SAM's shorthand makes
//! (resource paths from `ParentId`/`PathPart`, Lambda proxy integrations to the template's
//! functions, authorization types), so `apis::routes` checks and serves them like any other.
//! Must not: fail a template over these resources (CloudFormation validates them, not esb: what
//! esb cannot read is named and not served) or serve what is not a Lambda proxy integration.

use super::apis::Api;
use super::events::EventDecl;
use super::openapi::{self, Definition};
use crate::error::Sink;
use crate::intrinsics::Context;
use crate::model::{ApiKind, ApiSpec, Authorizer, FunctionSpec};
use crate::yaml::Node;
use std::collections::BTreeMap;

/// The resource types read here.
pub(crate) const TYPES: &[&str] = &[
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Authorizer",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::Authorizer",
];

/// What the template's CloudFormation API resources make.
#[derive(Default)]
pub(crate) struct Found {
    pub apis: BTreeMap<String, Api>,
    pub events: Vec<EventDecl>,
    /// APIs with a `Body`: their routes are read like a SAM API's DefinitionBody.
    pub definitions: Vec<Definition>,
}

/// One resource, its properties resolved where esb can (a value it cannot know is a placeholder;
/// a resource it cannot read at all is named and left out).
struct Res {
    id: String,
    ty: String,
    props: Node,
    line: usize,
}

/// Reads every CloudFormation API resource among `resources` (logical id, type, node).
pub(crate) fn read(
    resources: &[(&String, String, &Node)],
    ctx: &Context,
    functions: &BTreeMap<String, FunctionSpec>,
    sink: &mut Sink,
) -> Found {
    let mut all = vec![];
    for (id, ty, node) in resources {
        if !TYPES.contains(&ty.as_str()) {
            continue;
        }
        let empty = Node::new(crate::yaml::Value::Map(vec![]), node.line);
        let raw = node.get("Properties").unwrap_or(&empty);
        let mut trial = Sink::new(sink.file.clone());
        match super::needed::lenient(ctx, raw, &format!("Resources.{id}.Properties"), &mut trial) {
            Ok(Some(props)) if trial.errors.is_empty() => {
                for w in trial.warnings {
                    sink.warn(w);
                }
                all.push(Res { id: (*id).clone(), ty: ty.clone(), props, line: node.line });
            }
            _ => sink.warn_at(node.line, format!("{ty} {id} cannot be read locally; the routes it makes are not served")),
        }
    }
    let mut found = Found::default();
    let text = |r: &Res, k: &str| r.props.get(k).and_then(Node::as_scalar_str);
    // The APIs, with the stage a Stage (or a Deployment's StageName) gives them.
    for r in all.iter().filter(|r| r.ty == "AWS::ApiGateway::RestApi" || r.ty == "AWS::ApiGatewayV2::Api") {
        let kind = if r.ty == "AWS::ApiGateway::RestApi" { ApiKind::Rest } else { ApiKind::Http };
        if kind == ApiKind::Http && text(r, "ProtocolType").is_some_and(|p| p != "HTTP") {
            sink.warn_at(
                r.line,
                format!(
                    "{} {}: a {} API is not served (esb serves REST and HTTP APIs)",
                    r.ty,
                    r.id,
                    text(r, "ProtocolType").unwrap_or_default()
                ),
            );
            continue;
        }
        let stage = all
            .iter()
            .filter(|s| s.ty.ends_with("::Stage") || s.ty == "AWS::ApiGateway::Deployment")
            .filter(|s| text(s, "RestApiId").or_else(|| text(s, "ApiId")).as_deref() == Some(r.id.as_str()))
            .find_map(|s| text(s, "StageName"))
            .unwrap_or_else(|| if kind == ApiKind::Rest { "prod".into() } else { "$default".into() });
        let binary =
            r.props.get("BinaryMediaTypes").and_then(Node::as_seq).unwrap_or_default().iter().filter_map(Node::as_scalar_str).collect();
        let spec = ApiSpec { binary_media_types: binary, ..ApiSpec::new(kind, stage) };
        found.apis.insert(r.id.clone(), Api { spec, default_authorizer: None, api_key_required: false });
        if let Some(body) = r.props.get("Body").filter(|b| b.as_map().is_some()) {
            found.definitions.push(Definition {
                api: r.id.clone(),
                kind,
                body: body.clone(),
                origin: format!("Resources.{}.Properties.Body", r.id),
                merge: true,
            });
        }
        // Quick create: `Target` is the `$default` route to that function.
        if let Some(target) = text(r, "Target") {
            push(&mut found.events, r, &r.id, kind, None, None, &target, functions, None, None, sink);
        }
    }
    rest_methods(&all, &mut found, functions, sink);
    http_routes(&all, &mut found, functions, sink);
    found
}

/// `AWS::ApiGateway::Method`s on the paths their `Resource`s make.
fn rest_methods(all: &[Res], found: &mut Found, functions: &BTreeMap<String, FunctionSpec>, sink: &mut Sink) {
    let text = |r: &Res, k: &str| r.props.get(k).and_then(Node::as_scalar_str);
    let resources: BTreeMap<&str, &Res> = all.iter().filter(|r| r.ty == "AWS::ApiGateway::Resource").map(|r| (r.id.as_str(), r)).collect();
    // `root` is what `!GetAtt Api.RootResourceId` gives; a Resource's Ref is its logical id.
    let path_of = |start: &str| -> Option<String> {
        let mut parts = vec![];
        let mut at = start.to_string();
        for _ in 0..64 {
            if at == "root" {
                parts.reverse();
                return Some(format!("/{}", parts.join("/")));
            }
            let r = resources.get(at.as_str())?;
            parts.push(text(r, "PathPart")?);
            at = text(r, "ParentId")?;
        }
        None
    };
    for m in all.iter().filter(|r| r.ty == "AWS::ApiGateway::Method") {
        let (Some(api), Some(resource), Some(method)) = (text(m, "RestApiId"), text(m, "ResourceId"), text(m, "HttpMethod")) else {
            continue;
        };
        let Some(path) = path_of(&resource) else {
            sink.warn_at(
                m.line,
                format!("AWS::ApiGateway::Method {}: its resource path cannot be followed to the API's root; not served", m.id),
            );
            continue;
        };
        let integration = m.props.get("Integration");
        let ty = integration.and_then(|i| i.get("Type")).and_then(Node::as_scalar_str).unwrap_or_default();
        if !ty.eq_ignore_ascii_case("AWS_PROXY") {
            if !method.eq_ignore_ascii_case("OPTIONS") {
                sink.warn_at(
                    m.line,
                    format!("AWS::ApiGateway::Method {}: a `{ty}` integration is not served (esb serves Lambda proxy integrations)", m.id),
                );
            }
            continue;
        }
        let uri = integration.and_then(|i| i.get("Uri")).and_then(Node::as_scalar_str).unwrap_or_default();
        let auth = authorization(m, &api, all, found);
        let key_required = m.props.get("ApiKeyRequired").and_then(Node::as_scalar_str).is_some_and(|v| v == "true");
        let timeout = integration.and_then(|i| i.get("TimeoutInMillis")).and_then(Node::as_scalar_str).and_then(|t| t.parse().ok());
        push(&mut found.events, m, &api, ApiKind::Rest, Some(path), Some(method), &uri, functions, auth, timeout, sink);
        if key_required {
            if let Some(e) = found.events.last_mut() {
                e.api_key_required = Some(true);
            }
        }
    }
}

/// `AWS::ApiGatewayV2::Route`s and the `Integration`s their `Target` names.
fn http_routes(all: &[Res], found: &mut Found, functions: &BTreeMap<String, FunctionSpec>, sink: &mut Sink) {
    let text = |r: &Res, k: &str| r.props.get(k).and_then(Node::as_scalar_str);
    for r in all.iter().filter(|r| r.ty == "AWS::ApiGatewayV2::Route") {
        let (Some(api), Some(key)) = (text(r, "ApiId"), text(r, "RouteKey")) else { continue };
        if !found.apis.contains_key(&api) {
            continue;
        }
        let integration_id = text(r, "Target").map(|t| t.trim_start_matches("integrations/").to_string()).unwrap_or_default();
        let Some(integration) = all.iter().find(|i| i.ty == "AWS::ApiGatewayV2::Integration" && i.id == integration_id) else {
            sink.warn_at(
                r.line,
                format!("AWS::ApiGatewayV2::Route {}: its Target names no integration of this template; not served", r.id),
            );
            continue;
        };
        if !text(integration, "IntegrationType").is_some_and(|t| t.eq_ignore_ascii_case("AWS_PROXY"))
            || text(integration, "IntegrationSubtype").is_some()
        {
            sink.warn_at(r.line, format!("AWS::ApiGatewayV2::Route {}: its integration is not a Lambda proxy; not served", r.id));
            continue;
        }
        let uri = text(integration, "IntegrationUri").unwrap_or_default();
        let (method, path) = match key.split_once(' ') {
            Some((m, p)) => (Some(m.to_string()), Some(p.to_string())),
            None => (None, None), // `$default`
        };
        let auth = authorization(r, &api, all, found);
        let timeout = text(integration, "TimeoutInMillis").and_then(|t| t.parse().ok());
        push(&mut found.events, r, &api, ApiKind::Http, path, method, &uri, functions, auth, timeout, sink);
        if let (Some(e), Some(v)) = (found.events.last_mut(), text(integration, "PayloadFormatVersion")) {
            e.payload_version = Some(v);
        }
    }
}

/// The authorizer a method's or route's `AuthorizationType` names, added to its API: `AWS_IAM`,
/// Cognito and JWT (esb's own tokens), and `CUSTOM` / `REQUEST`: the `AWS::ApiGateway::Authorizer`
/// or `AWS::ApiGatewayV2::Authorizer` its `AuthorizerId` names, a Lambda authorizer run with the
/// template's function (bound in `apis::bind_authorizers`), or refused when it cannot be read.
fn authorization(r: &Res, api: &str, all: &[Res], found: &mut Found) -> Option<String> {
    let text = |r: &Res, k: &str| r.props.get(k).and_then(Node::as_scalar_str);
    let ty = text(r, "AuthorizationType").unwrap_or_else(|| "NONE".into()).to_ascii_uppercase();
    let named = text(r, "AuthorizerId").and_then(|id| all.iter().find(|a| a.id == id && a.ty.ends_with("::Authorizer")));
    let (name, authorizer) = match (ty.as_str(), named) {
        ("NONE", _) => return None,
        ("AWS_IAM", _) => ("AWS_IAM".to_string(), Authorizer::Iam),
        ("COGNITO_USER_POOLS", _) => ("CognitoUserPools".to_string(), Authorizer::Cognito { header: "Authorization".into() }),
        ("JWT", _) => ("Jwt".to_string(), Authorizer::Jwt { issuer: None, audience: vec![], header: "Authorization".into() }),
        (_, Some(a)) => (a.id.clone(), lambda_authorizer(a)),
        (other, None) => (format!("{other}Authorizer"), Authorizer::refused_lambda("(an authorizer esb cannot read)")),
    };
    found.apis.get_mut(api)?.spec.authorizers.insert(name.clone(), authorizer);
    Some(name)
}

/// An `AWS::ApiGateway::Authorizer` (`Type` TOKEN or REQUEST) or `AWS::ApiGatewayV2::Authorizer`
/// (`AuthorizerType` REQUEST) as a Lambda authorizer.
fn lambda_authorizer(a: &Res) -> Authorizer {
    let text = |k: &str| a.props.get(k).and_then(Node::as_scalar_str);
    let v2 = a.ty == "AWS::ApiGatewayV2::Authorizer";
    let token = !v2 && text("Type").is_some_and(|t| t.eq_ignore_ascii_case("TOKEN"));
    let mut identity = openapi::identity_sources(a.props.get("IdentitySource"));
    if token && identity.is_empty() {
        identity.push("header:Authorization".into());
    }
    Authorizer::Lambda {
        function_arn: text("AuthorizerUri").unwrap_or_default(),
        function: None,
        token,
        identity,
        validation: text("IdentityValidationExpression"),
        ttl: text("AuthorizerResultTtlInSeconds").and_then(|t| t.parse().ok()).unwrap_or(if v2 { 0 } else { 300 }),
        payload_version: v2.then(|| text("AuthorizerPayloadFormatVersion").unwrap_or_else(|| "2.0".into())),
        simple_responses: text("EnableSimpleResponses").is_some_and(|b| b == "true"),
    }
}

/// A route to the function `uri` names, as an event of that function.
#[allow(clippy::too_many_arguments)]
fn push(
    events: &mut Vec<EventDecl>,
    r: &Res,
    api: &str,
    kind: ApiKind,
    path: Option<String>,
    method: Option<String>,
    uri: &str,
    functions: &BTreeMap<String, FunctionSpec>,
    authorizer: Option<String>,
    timeout_ms: Option<u32>,
    sink: &mut Sink,
) {
    let Some(name) = openapi::function_of_uri(uri) else {
        sink.warn_at(r.line, format!("{} {}: `{uri}` names no Lambda function; not served", r.ty, r.id));
        return;
    };
    let Some(key) = openapi::function_key(name, functions) else {
        sink.warn_at(
            r.line,
            format!("{} {}: integrates function `{name}`, which is not a function esb runs from this template; not served", r.ty, r.id),
        );
        return;
    };
    events.push(EventDecl {
        function: key.clone(),
        name: r.id.clone(),
        kind,
        path,
        method,
        api: Some(api.to_string()),
        authorizer,
        api_key_required: None,
        payload_version: None,
        timeout_ms,
        yaml_path: format!("Resources.{}.Properties", r.id),
        line: r.line,
        path_line: r.line,
        method_line: r.line,
    });
}

#[cfg(test)]
mod tests {
    use crate::compile::{compile, Project, Settings};
    use crate::model::{ApiKind, Authorizer};

    fn compiled(resources: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/app.py"), "def handler(e, c): return 1\n").unwrap();
        let text = format!(
            "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties: {{Runtime: python3.13, Handler: app.handler, Code: src, FunctionName: cfn-fn}}\n{resources}"
        );
        let settings = Settings { project: "p".into(), tag: "t".into(), region: "us-east-1".into(), parameters: Default::default() };
        compile(&dir.path().join("template.yaml"), &text, &settings).unwrap()
    }

    fn served(p: &Project) -> Vec<String> {
        p.routing.routes.iter().map(|r| format!("{} {} {} {} {:?}", r.api, r.method, r.path, r.function, r.authorizer)).collect()
    }

    #[test]
    fn rest_api_resources_and_methods_make_routes_on_their_paths() {
        let p = compiled(
            "  Api:
    Type: AWS::ApiGateway::RestApi
    Properties: {Name: cfn}
  Items:
    Type: AWS::ApiGateway::Resource
    Properties: {RestApiId: !Ref Api, ParentId: !GetAtt Api.RootResourceId, PathPart: items}
  Item:
    Type: AWS::ApiGateway::Resource
    Properties: {RestApiId: !Ref Api, ParentId: !Ref Items, PathPart: '{id}'}
  GetItem:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref Item
      HttpMethod: GET
      AuthorizationType: NONE
      Integration:
        Type: AWS_PROXY
        IntegrationHttpMethod: POST
        Uri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations
  SignedRoot:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !GetAtt Api.RootResourceId
      HttpMethod: POST
      AuthorizationType: AWS_IAM
      Integration: {Type: AWS_PROXY, Uri: !Sub 'arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations'}
  Mock:
    Type: AWS::ApiGateway::Method
    Properties: {RestApiId: !Ref Api, ResourceId: !Ref Items, HttpMethod: GET, Integration: {Type: MOCK}}
  Stage:
    Type: AWS::ApiGateway::Stage
    Properties: {RestApiId: !Ref Api, StageName: v1, DeploymentId: x}
",
        );
        assert_eq!(served(&p), ["Api GET /items/{id} Fn None", "Api POST / Fn Some(\"AWS_IAM\")"]);
        let api = &p.routing.apis["Api"];
        assert_eq!((api.kind, api.stage.as_str()), (ApiKind::Rest, "v1"));
        assert_eq!(api.authorizers["AWS_IAM"], Authorizer::Iam, "refused by the gateway until esb checks SigV4 (fail closed)");
        assert!(p.warnings.iter().any(|w| w.contains("a `MOCK` integration is not served")), "{:?}", p.warnings);
    }

    #[test]
    fn http_api_quick_create_and_routes_with_integrations() {
        let p = compiled(
            "  Quick:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: q, ProtocolType: HTTP, Target: !GetAtt Fn.Arn}
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: h, ProtocolType: HTTP}
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Http, IntegrationType: AWS_PROXY, IntegrationUri: !GetAtt Fn.Arn, PayloadFormatVersion: '1.0'}
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Http, RouteKey: 'GET /h/{id}', Target: !Sub 'integrations/${Integration}'}
  Socket:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: ws, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
",
        );
        assert_eq!(served(&p), ["Http GET /h/{id} Fn None", "Quick ANY $default Fn None"]);
        assert_eq!(p.routing.routes[0].payload_version, "1.0");
        assert_eq!(p.routing.routes[1].payload_version, "2.0", "quick create's payload");
        assert!(p.warnings.iter().any(|w| w.contains("a WEBSOCKET API is not served")), "{:?}", p.warnings);
    }

    #[test]
    fn custom_authorizers_are_lambda_authorizers_bound_to_the_templates_function() {
        let p = compiled(
            "  Api:
    Type: AWS::ApiGateway::RestApi
    Properties: {Name: cfn}
  Authz:
    Type: AWS::ApiGateway::Authorizer
    Properties:
      RestApiId: !Ref Api
      Type: TOKEN
      AuthorizerUri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations
      IdentitySource: method.request.header.X-Token
      AuthorizerResultTtlInSeconds: 60
  Get:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !GetAtt Api.RootResourceId
      HttpMethod: GET
      AuthorizationType: CUSTOM
      AuthorizerId: !Ref Authz
      Integration: {Type: AWS_PROXY, Uri: !Sub 'arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations'}
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: h, ProtocolType: HTTP}
  HttpAuthz:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties: {ApiId: !Ref Http, AuthorizerType: REQUEST, AuthorizerUri: !GetAtt Fn.Arn, IdentitySource: ['$request.header.x-user'], AuthorizerPayloadFormatVersion: '2.0', EnableSimpleResponses: true}
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Http, IntegrationType: AWS_PROXY, IntegrationUri: !GetAtt Fn.Arn, PayloadFormatVersion: '2.0'}
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Http, RouteKey: 'GET /h', AuthorizationType: CUSTOM, AuthorizerId: !Ref HttpAuthz, Target: !Sub 'integrations/${Integration}'}
",
        );
        assert_eq!(served(&p), ["Api GET / Fn Some(\"Authz\")", "Http GET /h Fn Some(\"HttpAuthz\")"]);
        let Authorizer::Lambda { function, token, identity, ttl, .. } = &p.routing.apis["Api"].authorizers["Authz"] else {
            panic!("a Lambda authorizer")
        };
        assert_eq!((function.as_deref(), *token, identity.as_slice(), *ttl), (Some("Fn"), true, &["header:X-Token".to_string()][..], 60));
        let Authorizer::Lambda { function, simple_responses, identity, .. } = &p.routing.apis["Http"].authorizers["HttpAuthz"] else {
            panic!("a Lambda authorizer")
        };
        assert_eq!((function.as_deref(), *simple_responses, identity.as_slice()), (Some("Fn"), true, &["header:x-user".to_string()][..]));
    }
}
