//! Errors of image preparation, each with what to do about it.

use std::path::PathBuf;

/// Preparing an image failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The RIE binary could not be had.
    #[error("cannot get the Lambda Runtime Interface Emulator: {reason}\n  hint: put the aws-lambda-rie binary at a path and set ESB_RIE_PATH to it, or put {wheel} in ESB_WHEEL_DIR (pip's --find-links dirs work too)")]
    Rie {
        /// Why.
        reason: String,
        /// The wheel file that carries it.
        wheel: String,
    },
    /// A host tool esb runs failed or is missing.
    #[error("{tool} failed: {reason}{}", .output.as_ref().map(|o| format!("\n--- output (last lines) ---\n{o}")).unwrap_or_default())]
    Tool {
        /// The tool (`debootstrap`, `pip`, `tar`).
        tool: String,
        /// What went wrong.
        reason: String,
        /// The tool's output, trimmed to its last lines.
        output: Option<String>,
    },
    /// A function's image failed to build; its previous image (if any) is still there and usable.
    #[error("building the image of {function} failed: {message}\n--- build output (last lines) ---\n{}", .output.join("\n"))]
    Build {
        /// The function.
        function: String,
        /// The engine's message.
        message: String,
        /// The failing step's output.
        output: Vec<String>,
    },
    /// A file could not be read or written.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        /// What esb was doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The container engine failed.
    #[error(transparent)]
    Runtime(#[from] esb_runtime::RuntimeError),
}

impl ImageError {
    /// Wraps an I/O error with the file and action.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { action, path, source }
    }
}
