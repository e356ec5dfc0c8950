//! esb-storage: the storage services functions reach with unmodified boto3.
//!
//! Owns: [`s3`], esb's built-in S3 server over [`objects`] (objects as files in a volume, named
//! by their key's hash so no key is a path), [`service`], running storage services as labelled containers (`esb.role=storage`) with
//! their data in named volumes (`esb-<project>-<service>`), and [`provision`], creating the
//! template's buckets and tables idempotently, [`engines`], which server runs each service,
//! [`notify`], the built-in S3 server's change log, and [`streams`], a DynamoDB Streams client.
//! Must not: touch function containers or serve the gateway.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod engines;
pub mod notify;
pub mod objects;
pub mod provision;
pub mod s3;
pub mod service;
pub mod streams;

/// Errors of the storage crate.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The container engine failed.
    #[error(transparent)]
    Runtime(#[from] esb_runtime::RuntimeError),
    /// A service did not come up.
    #[error("the {service} service did not become ready: {reason}\n  hint: `docker logs {container}` shows why")]
    NotReady {
        /// `s3`.
        service: String,
        /// Its container.
        container: String,
        /// What was seen.
        reason: String,
    },
    /// An engine was chosen whose image is not on the engine (esb never pulls).
    #[error("storage.{service}.engine is `{engine}`, but its image {image} is not loaded\n  hint: `docker load -i <tarball>` (or put the tarball in build/lambda-images/), set storage.{service}.image to the tag you loaded, or use engine `builtin`")]
    MissingImage {
        /// `s3`.
        service: String,
        /// `rustfs`.
        engine: String,
        /// The image looked for.
        image: String,
    },
    /// I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The S3 server could not start.
    #[error("S3 server: {0}")]
    S3(String),
}
