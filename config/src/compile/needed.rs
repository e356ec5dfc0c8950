//! Resolving only what esb needs: a property esb passes through or ignores may hold a value esb
//! cannot know (another stack's export, an attribute of a resource it does not run); that becomes a
//! named placeholder with a warning, not an error.
//!
//! Owns: which properties of the resource types esb runs it reads (to run functions, serve routes,
//! provision tables and buckets), and the lenient resolution of the rest. Must not: compile
//! resources (the per-type compilers read the result) or decide what an intrinsic means
//! (`intrinsics`).

use crate::error::Sink;
use crate::intrinsics::{Context, Failed, Resolved};
pub(crate) use crate::model::RUN_TYPES;
use crate::yaml::{Node, Value};

/// Event types esb runs: their properties are needed.
const RUN_EVENTS: &[&str] = &["Api", "HttpApi", "S3", "DynamoDB", "Schedule", "ScheduleV2"];

/// Properties esb passes through or ignores, by resource type: a value it cannot know there is a
/// placeholder. Every other property is needed.
fn passes_through(ty: &str, key: &str) -> bool {
    const FUNCTION: &[&str] = &[
        "Description",
        "Tags",
        "Policies",
        "Role",
        "RolePath",
        "VpcConfig",
        "DeadLetterQueue",
        "DeadLetterConfig",
        "KmsKeyArn",
        "Tracing",
        "TracingConfig",
        "AutoPublishAlias",
        "AutoPublishAliasAllProperties",
        "AutoPublishCodeSha256",
        "VersionDescription",
        "DeploymentPreference",
        "ProvisionedConcurrencyConfig",
        "FileSystemConfigs",
        "LoggingConfig",
        "RuntimeManagementConfig",
        "SnapStart",
        "PermissionsBoundary",
        "CodeSigningConfigArn",
        "AssumeRolePolicyDocument",
        "FunctionUrlConfig",
        "Layers",
        "RecursiveLoop",
        "PropagateTags",
        "CapacityProviderConfig",
        "DurableConfig",
    ];
    const API: &[&str] = &[
        "Description",
        "Tags",
        "Domain",
        "AccessLogSetting",
        "AccessLogSettings",
        "MethodSettings",
        "DefinitionBody",
        "DefinitionUri",
        "Variables",
        "StageVariables",
        "TracingEnabled",
        "CacheClusterEnabled",
        "CacheClusterSize",
        "EndpointConfiguration",
        "OpenApiVersion",
        "Models",
        "GatewayResponses",
        "CanarySetting",
        "DisableExecuteApiEndpoint",
        "MinimumCompressionSize",
        "Mode",
        "AlwaysDeploy",
        "DefaultRouteSettings",
        "RouteSettings",
        "FailOnWarnings",
        "ApiKeySourceType",
        "MergeDefinitions",
        "PropagateTags",
        "Policy",
    ];
    const TABLE: &[&str] = &[
        "Tags",
        "SSESpecification",
        "PointInTimeRecoverySpecification",
        "KinesisStreamSpecification",
        "ContributorInsightsSpecification",
        "DeletionProtectionEnabled",
        "ResourcePolicy",
        "TableClass",
        "ImportSourceSpecification",
        "OnDemandThroughput",
        "WarmThroughput",
    ];
    const NEEDED_BY_BUCKETS: &[&str] = &["BucketName", "CorsConfiguration", "VersioningConfiguration"];
    match ty {
        "AWS::Serverless::Function" | "AWS::Lambda::Function" => FUNCTION.contains(&key),
        "AWS::Serverless::Api" | "AWS::Serverless::HttpApi" => API.contains(&key),
        "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => TABLE.contains(&key),
        "AWS::S3::Bucket" => !NEEDED_BY_BUCKETS.contains(&key),
        // A layer whose content esb cannot know runs without it (said at the layer).
        "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion" => true,
        _ => true,
    }
}

/// Resolves a run resource's properties (Globals merged): needed ones strictly (an error fails the
/// template), the others leniently. Environment variables and the properties of events esb does
/// not run are lenient one by one, so one unknowable value does not take the others with it.
pub(crate) fn resolve(ctx: &Context, ty: &str, props: &Node, ppath: &str, sink: &mut Sink) -> Resolved {
    each(ctx, props, ppath, sink, &|key, value, path, sink| match key {
        "Environment" if ty.ends_with("::Function") => each(ctx, value, path, sink, &|key, value, path, sink| {
            if key == "Variables" {
                each(ctx, value, path, sink, &|_, value, path, sink| lenient(ctx, value, path, sink))
            } else {
                ctx.resolve(value, path, sink)
            }
        }),
        "Events" if ty == "AWS::Serverless::Function" => each(ctx, value, path, sink, &|_, event, path, sink| {
            let kind = event.get("Type").and_then(Node::as_scalar_str).unwrap_or_default();
            if RUN_EVENTS.contains(&kind.as_str()) {
                return ctx.resolve(event, path, sink);
            }
            each(ctx, event, path, sink, &|key, value, path, sink| {
                if key == "Properties" {
                    each(ctx, value, path, sink, &|_, value, path, sink| lenient(ctx, value, path, sink))
                } else {
                    ctx.resolve(value, path, sink)
                }
            })
        }),
        _ if passes_through(ty, key) => lenient(ctx, value, path, sink),
        _ => ctx.resolve(value, path, sink),
    })
}

type Entry<'a> = dyn Fn(&str, &Node, &str, &mut Sink) -> Resolved + 'a;

/// Resolves each entry of a mapping with `entry` (every one, so every error is reported); anything
/// else (an intrinsic, a list) strictly.
fn each(ctx: &Context, node: &Node, path: &str, sink: &mut Sink, entry: &Entry) -> Resolved {
    let Some(entries) = node.as_map().filter(|_| crate::intrinsics::as_call(node).is_none()) else {
        return ctx.resolve(node, path, sink);
    };
    let mut out = vec![];
    let mut failed = false;
    for (key, value) in entries {
        match entry(key, value, &format!("{path}.{key}"), sink) {
            Ok(Some(v)) => out.push((key.clone(), v)),
            Ok(None) => {}
            Err(Failed) => failed = true,
        }
    }
    if failed {
        Err(Failed)
    } else {
        Ok(Some(Node::new(Value::Map(out), node.line)))
    }
}

/// Whether `value` is a placeholder [`resolve`] put where esb could not know the value.
pub(crate) fn is_placeholder(value: &str) -> bool {
    value.starts_with(PLACEHOLDER)
}

const PLACEHOLDER: &str = "esb-unresolved:";

/// The placeholder a value esb cannot know stands in as: its own path, so a function that prints
/// it shows where it came from.
pub(crate) fn placeholder(path: &str) -> String {
    let short = path.split_once(".Properties.").map_or(path, |(_, rest)| rest);
    format!("{PLACEHOLDER}{short}")
}

/// Resolves `value`; if something in it has a value esb cannot know, the whole value is a
/// placeholder and each reason is a warning with its line. A broken one is still an error.
pub(crate) fn lenient(ctx: &Context, value: &Node, path: &str, sink: &mut Sink) -> Resolved {
    let mut trial = Sink::new(sink.file.clone());
    let resolved = ctx.resolve(value, path, &mut trial);
    for w in trial.warnings {
        sink.warn(w);
    }
    let broken = (0..trial.errors.len()).any(|i| !trial.unknowable.contains(&i));
    match resolved {
        Ok(v) if trial.errors.is_empty() => Ok(v),
        _ if broken => {
            // A broken template (a Ref to nothing, a malformed call) is an error wherever it is.
            sink.errors.extend(trial.errors);
            Err(Failed)
        }
        _ => {
            let stand_in = placeholder(path);
            for e in trial.errors {
                let at = e.line.unwrap_or(value.line);
                sink.warn_at(at, format!("{path}: {}; esb does not need it to run, so it is `{stand_in}` locally", e.message));
            }
            Ok(Some(Node::new(Value::String(stand_in), value.line)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn ctx() -> Context {
        Context { region: "us-east-1".into(), account: "123456789012".into(), stack: "s".into(), ..Context::default() }
    }

    #[test]
    fn an_unknowable_value_where_esb_does_not_need_it_is_a_placeholder_with_a_warning() {
        let props =
            parse("Handler: app.h\nPolicies: [!ImportValue Shared]\nEnvironment:\n  Variables:\n    A: !ImportValue Shared\n    B: kept\n")
                .unwrap();
        let mut sink = Sink::new("template.yaml");
        let out = resolve(&ctx(), "AWS::Serverless::Function", &props, "Resources.F.Properties", &mut sink).unwrap().unwrap();
        let vars = out.get("Environment").and_then(|e| e.get("Variables")).unwrap();
        assert_eq!(vars.get("A").and_then(Node::as_str), Some("esb-unresolved:Environment.Variables.A"));
        assert_eq!(vars.get("B").and_then(Node::as_str), Some("kept"));
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        assert!(
            sink.warnings.iter().any(|w| w.starts_with("template.yaml:5: Resources.F.Properties.Environment.Variables.A")),
            "{:?}",
            sink.warnings
        );
    }

    #[test]
    fn an_unknowable_value_esb_needs_is_an_error_naming_the_chain() {
        let props = parse("FunctionName: !ImportValue Shared\nHandler: app.h\n").unwrap();
        let mut sink = Sink::new("template.yaml");
        assert!(resolve(&ctx(), "AWS::Serverless::Function", &props, "Resources.F.Properties", &mut sink).is_err());
        assert_eq!(sink.errors.len(), 1);
        assert!(sink.errors[0].path.starts_with("Resources.F.Properties.FunctionName"), "{:?}", sink.errors);
    }

    #[test]
    fn an_event_esb_does_not_run_keeps_its_shape_around_a_placeholder() {
        let props = parse("Events:\n  K:\n    Type: Kinesis\n    Properties: {Stream: !ImportValue S, BatchSize: 100}\n").unwrap();
        let mut sink = Sink::new("template.yaml");
        let out = resolve(&ctx(), "AWS::Serverless::Function", &props, "Resources.F.Properties", &mut sink).unwrap().unwrap();
        let p = out.get("Events").and_then(|e| e.get("K")).and_then(|k| k.get("Properties")).unwrap();
        assert!(p.get("Stream").and_then(Node::as_str).is_some_and(is_placeholder), "{p:?}");
        assert_eq!(p.get("BatchSize").and_then(Node::as_scalar_str).as_deref(), Some("100"));
    }

    #[test]
    fn events_esb_does_not_run_are_lenient_and_the_ones_it_runs_are_not() {
        let props = parse("Events:\n  Q:\n    Type: SQS\n    Properties: {Queue: !ImportValue Q}\n  A:\n    Type: Api\n    Properties: {Path: !ImportValue P, Method: get}\n").unwrap();
        let mut sink = Sink::new("template.yaml");
        assert!(resolve(&ctx(), "AWS::Serverless::Function", &props, "Resources.F.Properties", &mut sink).is_err());
        assert_eq!(sink.errors.len(), 1, "{:?}", sink.errors);
        assert!(sink.errors[0].path.contains("Events.A"), "{:?}", sink.errors);
    }
}
