//! Errors of the runtime layer, by what the caller can do about them.

/// A runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine cannot be reached (socket missing, daemon down, permission denied).
    #[error("cannot reach the Docker engine: {0}\n  hint: is Docker running, and may this user use its socket (DOCKER_HOST)?")]
    Unavailable(String),
    /// The named image or container does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// An image build failed; `output` holds the failing step's output.
    #[error("image build failed: {message}")]
    BuildFailed {
        /// The engine's error.
        message: String,
        /// The build output up to the failure (the failing step last).
        output: Vec<String>,
    },
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Any other engine error.
    #[error("Docker engine: {0}")]
    Engine(String),
}

impl From<bollard::errors::Error> for RuntimeError {
    fn from(e: bollard::errors::Error) -> Self {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError { status_code: 404, message } => RuntimeError::NotFound(message),
            E::DockerResponseServerError { status_code, message } => RuntimeError::Engine(format!("{status_code}: {message}")),
            E::HyperResponseError { .. } | E::SocketNotFoundError(_) | E::IOError { .. } => RuntimeError::Unavailable(e.to_string()),
            other => RuntimeError::Engine(other.to_string()),
        }
    }
}
