//! A function's asynchronous-invocation settings: `EventInvokeConfig` and `DeadLetterQueue`.
//!
//! Owns: reading retries, event age and destinations into [`AsyncConfig`]. A Lambda destination is
//! kept as the function *name* its ARN ends with; [`resolve`] turns it into a logical id once every
//! function is known. Destinations esb has no local service for (SQS, SNS, EventBridge, S3) and
//! dead-letter queues warn: failed events always go to esb's failure log instead.
//! Must not: run anything (the actors' event queue does).

use super::props::Props;
use crate::error::Sink;
use crate::model::{AsyncConfig, FunctionSpec};
use std::collections::BTreeMap;

pub(crate) fn compile(what: &str, props: &Props, sink: &mut Sink) -> AsyncConfig {
    let mut cfg = AsyncConfig::default();
    if let Some(dlq) = props.map("DeadLetterQueue", sink) {
        let dpath = props.at("DeadLetterQueue");
        let kind = Props::new(dlq, &dpath).string("Type", sink).unwrap_or_else(|| "SQS".into());
        sink.warn(format!(
            "{what}: DeadLetterQueue ({kind}) has no local service; failed asynchronous events go to esb's failure log \
             (`esb events`) instead"
        ));
    }
    let Some(node) = props.map("EventInvokeConfig", sink) else { return cfg };
    let path = props.at("EventInvokeConfig");
    let p = Props::new(node, &path);
    p.check_keys(&["MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"], &["Qualifier"], "EventInvokeConfig", sink);
    cfg.max_retries = p.uint("MaximumRetryAttempts", 0, 2, sink).map_or(cfg.max_retries, |n| n as u32);
    cfg.max_event_age = p.uint("MaximumEventAgeInSeconds", 60, 21_600, sink).map_or(cfg.max_event_age, |n| n as u32);
    let Some(dest) = p.map("DestinationConfig", sink) else { return cfg };
    let dpath = p.at("DestinationConfig");
    let d = Props::new(dest, &dpath);
    d.check_keys(&["OnSuccess", "OnFailure"], &[], "DestinationConfig", sink);
    for key in ["OnSuccess", "OnFailure"] {
        let Some(target) = d.map(key, sink) else { continue };
        let tpath = d.at(key);
        let t = Props::new(target, &tpath);
        let kind = t.required("Type", &format!("{what} {key}"), "Type: Lambda (SQS, SNS, EventBridge and S3 have no local service)", sink);
        match kind.as_deref() {
            Some("Lambda") => {
                let Some(arn) = t.required("Destination", &format!("{what} {key}"), "e.g. `Destination: !GetAtt OtherFunction.Arn`", sink)
                else {
                    continue;
                };
                // `arn:aws:lambda:region:account:function:name[:qualifier]` or a plain name.
                let name = arn.split(":function:").nth(1).unwrap_or(&arn).split(':').next().unwrap_or_default().to_string();
                if key == "OnSuccess" {
                    cfg.on_success = Some(name);
                } else {
                    cfg.on_failure = Some(name);
                }
            }
            Some(other) => sink.warn(format!(
                "{what}: the {key} destination of type {other} has no local service; results are not sent there{}",
                if key == "OnFailure" { " (failed events go to esb's failure log, `esb events`)" } else { "" }
            )),
            None => {}
        }
    }
    cfg
}

/// Turns destination function names into logical ids; a name that is not a function of this
/// template is an error at the function's `EventInvokeConfig`.
pub(crate) fn resolve(functions: &mut BTreeMap<String, FunctionSpec>, lines: &BTreeMap<String, usize>, sink: &mut Sink) {
    let by_name: BTreeMap<String, String> =
        functions.iter().flat_map(|(id, f)| [(f.function_name.clone(), id.clone()), (id.clone(), id.clone())]).collect();
    for (id, f) in functions.iter_mut() {
        for (key, target) in [("OnSuccess", &mut f.async_invoke.on_success), ("OnFailure", &mut f.async_invoke.on_failure)] {
            let Some(name) = target.take() else { continue };
            match by_name.get(&name) {
                Some(logical) => *target = Some(logical.clone()),
                None => sink.error(
                    lines.get(id).copied(),
                    &format!("Resources.{id}.Properties.EventInvokeConfig.DestinationConfig.{key}.Destination"),
                    format!("the {key} destination `{name}` is not a function of this template"),
                    Some("use !GetAtt <Function>.Arn of a function in this template"),
                ),
            }
        }
    }
}
