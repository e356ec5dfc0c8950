//! esb-gateway: the HTTPS API Gateway (not built yet).
//!
//! This crate will hold the hyper + rustls server described in `DESIGN.md` ("gateway"): routes
//! from `routing.yml` (parsed with `esb_config::routes::PathTemplate`), Cognito-style auth,
//! API Gateway v1/v2 events, and the Lambda Invoke API. It will never hold a Docker handle:
//! invocations go to function actors in esb-actors. Nothing here runs yet.
#![forbid(unsafe_code)]
