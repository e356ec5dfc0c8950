//! esb-gateway: esb's public surface.
//!
//! Built so far: [`invoke_api`], the Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`,
//! RequestResponse and Event) over plain HTTP, for loopback use by `esb serve --http`. Still to come
//! (the gateway issue): TLS (rustls) as the default, routing from routing.yml, API Gateway v1/v2
//! events, Cognito-style auth. The gateway holds no Docker handle: invocations go to function actors
//! through `esb_actors::FunctionHandle`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod invoke_api;
