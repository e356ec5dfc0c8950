//! The resources the SAM transform generates and templates refer to by name, as the reference
//! translator names them: `<Fn>.Alias`, `<Fn>Alias<Name>`, `<Fn>.Version` (AutoPublishAlias),
//! `<Fn>Role` (no Role given), `<Fn>Url` (FunctionUrlConfig), `<Api>.Stage`, `<Api>.Deployment`,
//! `<Api><Stage>Stage`, `<HttpApi>ApiGatewayDefaultStage`, and the implicit `ServerlessRestApi` /
//! `ServerlessHttpApi` of functions' Api/HttpApi events.
//!
//! Owns: adding those names to the intrinsics' resources, so `Ref`, `Fn::GetAtt` and `${...}` of
//! them resolve to stable local values. Must not: shadow a resource the template declares, or run
//! anything (these are names, not services; the API issue serves function URLs and stages).

use crate::intrinsics::{Context, ResourceRef};
use crate::yaml::Node;

/// Adds the generated names of resource `id` (type `ty`, its raw `node`; `globals` is the
/// template's Globals section) to `ctx.resources`.
pub(crate) fn add(ctx: &mut Context, id: &str, ty: &str, node: &Node, globals: Option<&Node>) {
    let props = node.get("Properties");
    let prop = |section: &str, key: &str| -> Option<String> {
        props
            .and_then(|p| p.get(key))
            .or_else(|| globals.and_then(|g| g.get(section)).and_then(|g| g.get(key)))
            .and_then(Node::as_scalar_str)
    };
    let (region, account) = (ctx.region.clone(), ctx.account.clone());
    let mut names: Vec<(String, &str, String)> = vec![];
    match ty {
        "AWS::Serverless::Function" => {
            let arn = format!("arn:aws:lambda:{region}:{account}:function:{id}");
            if let Some(alias) = prop("Function", "AutoPublishAlias") {
                names.push((format!("{id}.Alias"), "AWS::Lambda::Alias", format!("{arn}:{alias}")));
                names.push((format!("{id}Alias{alias}"), "AWS::Lambda::Alias", format!("{arn}:{alias}")));
                names.push((format!("{id}.Version"), "AWS::Lambda::Version", format!("{arn}:1")));
            }
            if props.and_then(|p| p.get("Role")).is_none() {
                names.push((format!("{id}Role"), "AWS::IAM::Role", format!("{id}Role")));
            }
            if props.and_then(|p| p.get("FunctionUrlConfig")).is_some() {
                names.push((format!("{id}Url"), "AWS::Lambda::Url", arn.clone()));
            }
            for (_, event) in props.and_then(|p| p.get("Events")).and_then(Node::as_map).unwrap_or_default() {
                let kind = event.get("Type").and_then(Node::as_scalar_str).unwrap_or_default();
                let explicit = event.get("Properties").is_some_and(|p| p.get("RestApiId").is_some() || p.get("ApiId").is_some());
                match kind.as_str() {
                    "Api" if !explicit => implicit_api(&mut names, "ServerlessRestApi", "AWS::ApiGateway::RestApi", "Prod"),
                    "HttpApi" if !explicit => implicit_api(&mut names, "ServerlessHttpApi", "AWS::ApiGatewayV2::Api", "$default"),
                    _ => {}
                }
            }
        }
        "AWS::Serverless::Api" => {
            let stage = prop("Api", "StageName").unwrap_or_else(|| "Prod".into());
            names.push((format!("{id}.Stage"), "AWS::ApiGateway::Stage", stage.clone()));
            names.push((format!("{id}.Deployment"), "AWS::ApiGateway::Deployment", format!("{id}Deployment")));
            names.push((format!("{id}{}Stage", alnum(&stage)), "AWS::ApiGateway::Stage", stage));
        }
        "AWS::Serverless::HttpApi" => {
            let stage = prop("HttpApi", "StageName").unwrap_or_else(|| "$default".into());
            names.push((format!("{id}.Stage"), "AWS::ApiGatewayV2::Stage", stage.clone()));
            names.push((format!("{id}ApiGatewayDefaultStage"), "AWS::ApiGatewayV2::Stage", stage));
        }
        _ => {}
    }
    for (name, kind, physical) in names {
        ctx.resources.entry(name).or_insert(ResourceRef { kind: kind.into(), physical });
    }
}

fn implicit_api(names: &mut Vec<(String, &str, String)>, id: &str, kind: &'static str, stage: &str) {
    names.push((id.into(), kind, id.into()));
    names.push((format!("{id}.Stage"), "AWS::ApiGateway::Stage", stage.into()));
    if kind == "AWS::ApiGateway::RestApi" {
        names.push((format!("{id}{stage}Stage"), "AWS::ApiGateway::Stage", stage.into()));
        names.push((format!("{id}.Deployment"), "AWS::ApiGateway::Deployment", format!("{id}Deployment")));
    } else {
        names.push((format!("{id}ApiGatewayDefaultStage"), "AWS::ApiGatewayV2::Stage", stage.into()));
    }
}

/// SAM's logical ids keep only letters and digits.
fn alnum(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect()
}
