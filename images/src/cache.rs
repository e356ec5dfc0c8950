//! The cache dir: `ESB_CACHE_DIR`, else the user's cache dir + `esb` (e.g. `~/.cache/esb`).
//!
//! Owns: where downloaded and built inputs live (RIE binary, rootfs tarballs, resolved Python deps)
//! and writing them atomically, so an interrupted run never leaves a half-written file that a later
//! run would trust.

use crate::ImageError;
use std::path::{Path, PathBuf};

/// The cache root.
pub fn dir() -> PathBuf {
    match std::env::var_os("ESB_CACHE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("esb"),
    }
}

/// SHA-256 of bytes, hex.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, ImageError> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut file = std::fs::File::open(path).map_err(ImageError::io("reading", path))?;
    std::io::copy(&mut file, &mut hasher).map_err(ImageError::io("reading", path))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Writes `bytes` to `path` via a temp file and rename.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ImageError> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(ImageError::io("creating", dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(ImageError::io("writing", path))?;
    tmp.write_all(bytes).map_err(ImageError::io("writing", path))?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(ImageError::io("writing", path))?;
    tmp.as_file().sync_all().map_err(ImageError::io("writing", path))?;
    tmp.persist(path).map_err(|e| ImageError::io("writing", path)(e.error))?;
    Ok(())
}

/// Moves a directory made in a scratch place to its final cache path. When another build made
/// the same one meanwhile (parallel builds of one recipe), theirs is kept: it is the same.
pub fn publish_dir(made: &Path, dir: &Path) -> Result<PathBuf, ImageError> {
    match std::fs::rename(made, dir) {
        Err(_) if dir.is_dir() => Ok(dir.to_path_buf()),
        done => done.map(|()| dir.to_path_buf()).map_err(ImageError::io("writing", dir)),
    }
}
