//! The environment a function sees, as on Lambda.
//!
//! Owns: the variables Lambda sets (name, memory, timeout, version, region, log group/stream,
//! credentials) and their merge with the template's `Environment`. Credentials are dummies: esb's
//! functions only ever talk to esb's local services, never to a real account. Used by `esb invoke`
//! and the manager, so both start containers alike. Must not: know about Docker.

use crate::model::FunctionSpec;
use std::collections::BTreeMap;

/// The access key functions get (and the local storage services accept).
pub const ACCESS_KEY_ID: &str = "esblocal";
/// The matching secret.
pub const SECRET_ACCESS_KEY: &str = "esblocalsecret";

/// Lambda's variables, then the template's (which cannot override reserved ones: the compiler
/// rejects those), then `extra` (a caller's overrides, e.g. `esb invoke --env`).
pub fn lambda_env(spec: &FunctionSpec, region: &str, extra: &[(String, String)]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let name = &spec.function_name;
    for (k, v) in [
        ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_size.to_string()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", spec.timeout.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "esb/[$LATEST]local".into()),
        ("AWS_REGION", region.into()),
        ("AWS_DEFAULT_REGION", region.into()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into()),
        ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", spec.runtime)),
        ("_HANDLER", spec.handler.clone()),
    ] {
        env.insert(k.to_string(), v);
    }
    env.extend(spec.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(extra.iter().cloned());
    env
}
