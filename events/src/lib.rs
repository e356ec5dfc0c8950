//! esb's event sources: everything that invokes a function without an HTTP request.
//!
//! Owns: the DynamoDB stream readers ([`streams`]), the S3 notifier ([`s3`]), the redrive spool
//! ([`spool`]), and their wiring with the EventQueue and the Scheduler behind one [`Source`] trait
//! ([`sources`]), started, reloaded and stopped by the daemon. Must not: run containers (the
//! function actors do), parse flags or print (the cli does), or read the template (it is handed the
//! compiled project).

pub mod s3;
pub mod sources;
pub mod spool;
pub mod streams;

pub use sources::{start, Options, Source, Sources, StartError, Started, Wiring};
