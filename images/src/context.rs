//! Docker build contexts as deterministic tarballs.
//!
//! Owns: packing files and directory trees into an uncompressed tar whose bytes depend only on
//! paths, contents and executable bits (sorted entries, mtime 0, owner 0), so the SHA-256 of a
//! context is a content hash: same code, same hash, no rebuild. Skips what never belongs in a
//! function image (VCS dirs, caches, virtualenvs, esb's own output).

use crate::ImageError;
use std::path::Path;

/// Names never packed from a code or layer directory.
pub const EXCLUDED: &[&str] =
    &[".git", ".hg", ".svn", "__pycache__", ".pytest_cache", ".mypy_cache", ".venv", ".esb", ".aws-sam", ".DS_Store"];

/// A build context being assembled.
pub struct Context {
    tar: tar::Builder<Vec<u8>>,
    skip: Vec<std::path::PathBuf>,
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        let mut tar = tar::Builder::new(Vec::new());
        tar.mode(tar::HeaderMode::Deterministic);
        Context { tar, skip: vec![] }
    }

    /// Never packs `path` (canonical), wherever a tree meets it: esb's output dir, which holds the
    /// project's secrets, may sit inside a code directory under any name.
    pub fn skipping(mut self, path: &Path) -> Self {
        self.skip.push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        self
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    /// Adds a file.
    pub fn file(&mut self, path: &str, bytes: &[u8], mode: u32) -> Result<(), ImageError> {
        let mut h = Self::header(tar::EntryType::Regular, bytes.len() as u64, mode);
        self.tar.append_data(&mut h, path, bytes).map_err(ImageError::io("packing", path))
    }

    /// Adds a directory entry (`mode` matters: `/tmp` needs 1777).
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<(), ImageError> {
        let mut h = Self::header(tar::EntryType::Directory, 0, mode);
        self.tar.append_data(&mut h, format!("{}/", path.trim_end_matches('/')), std::io::empty()).map_err(ImageError::io("packing", path))
    }

    /// Adds `src` (recursively, sorted, following symlinks) under `prefix` (`""`: at the root, as
    /// a Docker build context). A file named `bootstrap` is always executable: custom runtimes
    /// need it so.
    pub fn tree(&mut self, prefix: &str, src: &Path) -> Result<(), ImageError> {
        if !prefix.is_empty() {
            self.dir(prefix, 0o755)?;
        }
        let mut entries: Vec<_> = std::fs::read_dir(src).map_err(ImageError::io("reading", src))?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().to_string();
            if EXCLUDED.contains(&name.as_str()) || name.ends_with(".pyc") {
                continue;
            }
            let path = entry.path();
            let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            let meta = std::fs::metadata(&path).map_err(ImageError::io("reading", &path))?;
            if meta.is_dir() && !self.skip.is_empty() && std::fs::canonicalize(&path).is_ok_and(|c| self.skip.contains(&c)) {
                continue;
            }
            if meta.is_dir() {
                self.tree(&rel, &path)?;
            } else if meta.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let exec = meta.permissions().mode() & 0o111 != 0 || name == "bootstrap";
                let bytes = std::fs::read(&path).map_err(ImageError::io("reading", &path))?;
                self.file(&rel, &bytes, if exec { 0o755 } else { 0o644 })?;
            }
        }
        Ok(())
    }

    /// The finished tar.
    pub fn finish(mut self) -> Result<Vec<u8>, ImageError> {
        self.tar.finish().map_err(ImageError::io("packing", "build context"))?;
        self.tar.into_inner().map_err(ImageError::io("packing", "build context"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_tree_same_bytes_and_excluded_names_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg/__pycache__")).unwrap();
        std::fs::write(dir.path().join("app.py"), "x = 1\n").unwrap();
        std::fs::write(dir.path().join("pkg/mod.py"), "y = 2\n").unwrap();
        std::fs::write(dir.path().join("pkg/__pycache__/mod.cpython-311.pyc"), "junk").unwrap();
        let pack = || {
            let mut c = Context::new();
            c.file("Dockerfile", b"FROM scratch\n", 0o644).unwrap();
            c.tree("code", dir.path()).unwrap();
            c.finish().unwrap()
        };
        let first = pack();
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(dir.path().join("app.py"), "x = 1\n").unwrap(); // new mtime, same content
        assert_eq!(first, pack(), "mtimes do not matter");
        let names: Vec<String> =
            tar::Archive::new(&first[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["Dockerfile", "code/", "code/app.py", "code/pkg/", "code/pkg/mod.py"]);
        std::fs::write(dir.path().join("app.py"), "x = 2\n").unwrap();
        assert_ne!(first, pack(), "content does");
    }

    #[test]
    fn the_output_dir_is_never_packed_whatever_its_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("build/out/secrets")).unwrap();
        std::fs::write(dir.path().join("build/out/secrets/admin-password"), "pw").unwrap();
        std::fs::write(dir.path().join("build/keep.txt"), "k").unwrap();
        let mut c = Context::new().skipping(&dir.path().join("build/out"));
        c.tree("code", dir.path()).unwrap();
        let tar = c.finish().unwrap();
        let names: Vec<String> =
            tar::Archive::new(&tar[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["code/", "code/build/", "code/build/keep.txt"]);
    }
}
