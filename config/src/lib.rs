//! esb-config: an AWS SAM template -> esb's typed model and generated configuration.
//!
//! # Layout
//! - [`yaml`]: YAML -> [`yaml::Node`] keeping CloudFormation tags and line numbers.
//! - [`intrinsics`], [`conditions`]: `Ref`, `Fn::Sub`, `Fn::GetAtt`, ... and the Conditions section.
//! - [`compile`]: the template -> [`compile::Project`]; every error collected, located and hinted.
//! - [`model`]: the generated files' types (`functions.yml`, `routing.yml`, `resources.yml`).
//! - [`routes`]: API Gateway path templates and methods.
//! - [`spec`]: the published property specifications of the resource types esb runs (vendored data).
//! - [`dockerfile`], [`generate`]: the output dir's files, written deterministically and only when changed.
//! - [`generator`], [`services`], [`discover`], [`workspace`]: generator.yml (with its storage and logs
//!   sections), finding the template, project settings.
//!
//! The crate is pure: it reads and writes files and nothing else (no Docker, no network).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compile;
pub mod conditions;
pub mod daemon;
pub mod discover;
pub mod dockerfile;
pub mod error;
pub mod generate;
pub mod generator;
pub mod intrinsics;
pub mod lambda_env;
pub mod model;
pub mod node_packages;
pub mod routes;
pub mod runtimes;
pub mod schedule;
pub mod services;
pub mod spec;
pub mod workspace;
pub mod yaml;

pub use compile::{compile, compile_file, Project, Settings};
pub use error::{ConfigError, Diagnostic};
pub use workspace::Workspace;
