//! Routes from an API's own definition: its OpenAPI document (`DefinitionBody`, `DefinitionUri`,
//! a CloudFormation API's `Body`) and the CloudFormation API resources (`AWS::ApiGateway::*`,
//! `AWS::ApiGatewayV2::*`), merged with the functions' events as the SAM translator merges them.
//!
//! Owns: that merge (an API with a definition is the definition; its events add routes only with
//! `MergeDefinitions`; a SAM event on a CloudFormation API adds none) and what a definition adds
//! to its API (binary media types, authorizers, CORS). Must not: read the definitions (see
//! `openapi`, `cfn_apis`) or check routes (`apis::routes`).

use super::events::EventDecl;
use super::{cfn_apis, openapi, Outputs};
use crate::error::Sink;
use crate::intrinsics::Context;
use crate::model::ApiKind;
use crate::yaml::Node;

/// Adds the routes of `definitions` and of the template's CloudFormation API resources (among
/// `active`) to `events`, and their APIs to `out`.
pub(crate) fn add(
    active: &[(&String, String, &Node)],
    ctx: &Context,
    mut definitions: Vec<openapi::Definition>,
    events: &mut Vec<EventDecl>,
    out: &mut Outputs,
    sink: &mut Sink,
) {
    let cfn = cfn_apis::read(active, ctx, &out.functions, sink);
    // A SAM event on such an API adds no route (SAM only grants the permission): its Methods and
    // Routes are the API.
    events.retain(|e| !e.api.as_ref().is_some_and(|a| cfn.apis.contains_key(a)));
    out.apis.extend(cfn.apis);
    events.extend(cfn.events);
    definitions.extend(cfn.definitions);
    // Routes in the APIs' OpenAPI definitions join the functions' own events.
    for def in &definitions {
        let known = out.apis.get(&def.api).map(|a| a.spec.authorizers.clone()).unwrap_or_default();
        let found = openapi::routes(def, &out.functions, &known, sink);
        if def.merge {
            events.retain(|e| {
                e.api.as_deref() != Some(def.api.as_str())
                    || !found.events.iter().any(|d| {
                        d.path == e.path
                            && d.method.as_deref().map(str::to_ascii_uppercase) == e.method.as_deref().map(str::to_ascii_uppercase)
                    })
            });
        } else {
            events.retain(|e| e.api.as_deref() != Some(def.api.as_str()));
        }
        events.extend(found.events);
        if let Some(api) = out.apis.get_mut(&def.api) {
            api.spec.binary_media_types.extend(found.binary_media_types);
            api.spec.authorizers.extend(found.authorizers);
            if api.spec.kind == ApiKind::Http && api.spec.cors.is_none() {
                api.spec.cors = found.cors;
            }
        }
    }
}
