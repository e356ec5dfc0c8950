//! Function URLs: a function's `FunctionUrlConfig` (`AuthType` NONE or AWS_IAM, `Cors`,
//! `InvokeMode`).
//!
//! Owns: reading the config into a [`FunctionUrl`] with its id (the host label the gateway serves
//! it at). Must not: serve anything (the gateway does).

use super::props::Props;
use crate::error::Sink;
use crate::model::FunctionUrl;

/// The URL of function `key`, if its properties configure one.
pub(crate) fn url(key: &str, props: &Props, sink: &mut Sink) -> Option<FunctionUrl> {
    let path = props.at("FunctionUrlConfig");
    let p = Props::new(props.map("FunctionUrlConfig", sink)?, &path);
    p.check_keys(&["AuthType", "Cors", "InvokeMode"], &[], "FunctionUrlConfig", sink);
    let iam = match p.string("AuthType", sink).as_deref() {
        Some("NONE") => false,
        Some("AWS_IAM") => true,
        other => {
            sink.error(
                Some(p.node.line),
                &p.at("AuthType"),
                format!(
                    "FunctionUrlConfig AuthType must be NONE or AWS_IAM, found {}",
                    other.map_or("nothing".to_string(), |o| format!("`{o}`"))
                ),
                None,
            );
            return None;
        }
    };
    if p.string("InvokeMode", sink).as_deref() == Some("RESPONSE_STREAM") {
        sink.warn(format!("function {key}: its URL's InvokeMode RESPONSE_STREAM is served buffered (the whole response at once)"));
    }
    let id: String = key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    Some(FunctionUrl { id, function: key.to_string(), iam, cors: super::apis::cors_of(&p, "Cors", "FunctionUrlConfig Cors", sink) })
}
