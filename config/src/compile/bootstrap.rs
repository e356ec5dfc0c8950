//! A custom runtime's `bootstrap`, as the compile can know it before anything runs: whether a
//! build step makes it (`rust-cargolambda`, `go1.x`, `makefile`, or a Cargo package or Go source
//! without one), which
//! base runs it (static ELF: the scratch base; dynamically linked, a `#!` script or whatever a
//! makefile makes: the glibc base, which has a C library and a shell), and why it cannot start (built for another
//! architecture, not a program), said at build time instead of as RIE's bare 502.
//!
//! Owns: reading the first bytes of `bootstrap` (ELF header, program headers, `#!` line).
//! Must not: run the file or change it.

use crate::error::Sink;
use crate::model::{BaseImage, Build, Code, FunctionSpec};
use std::path::Path;

/// Settles a `provided` function's build step and base (see the module doc). `method` is its
/// `Metadata.BuildMethod`.
pub(crate) fn settle(id: &str, spec: &mut FunctionSpec, method: Option<&str>, root: &Path, sink: &mut Sink) {
    if spec.base == BaseImage::Provided && spec.build == Some(Build::Makefile) {
        // What the makefile makes is not known yet: often a script or a dynamically linked
        // program. The glibc base runs those and static programs alike.
        spec.base = BaseImage::ProvidedGlibc;
        return;
    }
    let (BaseImage::Provided, Code::Dir { path }, None) = (&spec.base, &spec.code, &spec.build) else { return };
    let dir = root.join(path);
    let bootstrap = dir.join("bootstrap");
    let go = method == Some("go1.x") || spec.runtime == "go1.x";
    if spec.runtime == "go1.x" {
        sink.warn(format!(
            "function {id}: go1.x is retired by Lambda; esb runs it as provided.al2023 does, with a `bootstrap` built from its Go source"
        ));
    }
    if go || (!bootstrap.is_file() && go_source(&dir)) {
        let (module, package) = go_module(root, path);
        let artifacts = super::sam_build::artifacts_dir(id);
        let artifacts = root.join(&artifacts).is_dir().then_some(artifacts);
        spec.build = Some(Build::Go { module, package, artifacts });
        return;
    }
    if !bootstrap.is_file() {
        if dir.join("Cargo.toml").is_file() {
            spec.build = Some(Build::Cargo { binary: None, features: vec![] });
            return;
        }
        sink.warn(format!(
            "function {id}: no `bootstrap` executable in {path} yet; build it before `esb build` packages the image, \
             or give it `Metadata: {{BuildMethod: makefile}}` (or rust-cargolambda) for esb to build"
        ));
        return;
    }
    match inspect(&bootstrap) {
        Kind::Elf { machine, interpreter } => {
            if let Some(arch) = machine.filter(|m| *m != std::env::consts::ARCH) {
                sink.warn(format!(
                    "function {id}: `bootstrap` in {path} is a program for {arch}, and this machine runs {}; \
                     it will fail with `exec format error`. Build it for {0}",
                    std::env::consts::ARCH
                ));
            }
            if interpreter.is_some() {
                spec.base = BaseImage::ProvidedGlibc;
            }
        }
        Kind::Script => spec.base = BaseImage::ProvidedGlibc,
        Kind::Other => sink.warn(format!(
            "function {id}: `bootstrap` in {path} is neither a program (ELF) nor a script with a `#!` line; \
             it will fail with `exec format error`"
        )),
    }
}

/// Whether `dir` is Go source: a `go.mod` or a `.go` file.
pub(crate) fn go_source(dir: &Path) -> bool {
    dir.join("go.mod").is_file()
        || std::fs::read_dir(dir)
            .is_ok_and(|entries| entries.filter_map(Result::ok).any(|e| e.path().extension().is_some_and(|x| x == "go")))
}

/// The Go module that holds CodeUri `path` (the nearest directory with `go.mod`, up to the
/// template's directory; CodeUri itself when there is none), and CodeUri relative to it.
fn go_module(root: &Path, path: &str) -> (String, String) {
    let code = Path::new(path);
    let mut at = Some(code);
    while let Some(dir) = at {
        if dir.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            break;
        }
        if root.join(dir).join("go.mod").is_file() {
            let module = if dir.as_os_str().is_empty() { ".".to_string() } else { dir.to_string_lossy().into_owned() };
            let package = code.strip_prefix(dir).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            return (module, if package.is_empty() { ".".into() } else { package });
        }
        at = dir.parent();
    }
    (path.to_string(), ".".into())
}

/// What a `bootstrap` file is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An ELF program: its machine (`None` when esb does not know it) and its program interpreter
    /// (`PT_INTERP`, e.g. `/lib64/ld-linux-x86-64.so.2`; `Some` means dynamically linked).
    Elf { machine: Option<&'static str>, interpreter: Option<String> },
    /// A `#!` script.
    Script,
    /// Anything else (or unreadable).
    Other,
}

/// Reads what `path` is; only 64-bit little-endian ELF files are read further than their header.
pub(crate) fn inspect(path: &Path) -> Kind {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else { return Kind::Other };
    let mut h = [0u8; 64];
    let n = f.read(&mut h).unwrap_or(0);
    if h[..n].starts_with(b"#!") {
        return Kind::Script;
    }
    if n < 20 || &h[..4] != b"\x7fELF" {
        return Kind::Other;
    }
    let machine = match u16::from_le_bytes([h[18], h[19]]) {
        0x3e => Some("x86_64"),
        0xb7 => Some("aarch64"),
        0x03 => Some("x86"),
        0x28 => Some("arm"),
        _ => None,
    };
    let interpreter = if n == 64 && h[4] == 2 && h[5] == 1 { interpreter(&mut f, &h) } else { None };
    Kind::Elf { machine, interpreter }
}

/// The `PT_INTERP` of a 64-bit little-endian ELF file whose header is `h`.
fn interpreter(f: &mut std::fs::File, h: &[u8; 64]) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let u16_at = |o: usize| u16::from_le_bytes([h[o], h[o + 1]]) as u64;
    let phoff = u64::from_le_bytes(h[32..40].try_into().ok()?);
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    for i in 0..phnum.min(64) {
        let mut ph = [0u8; 56];
        f.seek(SeekFrom::Start(phoff + i * phentsize)).ok()?;
        f.read_exact(&mut ph).ok()?;
        if u32::from_le_bytes(ph[..4].try_into().ok()?) == 3 {
            let (offset, size) = (u64::from_le_bytes(ph[8..16].try_into().ok()?), u64::from_le_bytes(ph[32..40].try_into().ok()?));
            let mut name = vec![0u8; size.min(256) as usize];
            f.seek(SeekFrom::Start(offset)).ok()?;
            f.read_exact(&mut name).ok()?;
            return Some(String::from_utf8_lossy(&name).trim_end_matches('\0').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-byte ELF header for `machine`, without program headers.
    fn elf_header(machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        (h[4], h[5], h[6]) = (2, 1, 1);
        h[16] = 2; // ET_EXEC
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h
    }

    #[test]
    fn programs_scripts_and_other_files_are_told_apart() {
        // The test binary itself is a dynamically linked executable of this machine.
        let me = std::env::current_exe().unwrap();
        let Kind::Elf { machine, interpreter: Some(loader) } = inspect(&me) else { panic!("{:?}", inspect(&me)) };
        assert_eq!(machine, Some(std::env::consts::ARCH));
        assert!(loader.starts_with('/') && loader.contains("ld-"), "{loader}");
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.path().join(name), bytes).unwrap();
            inspect(&dir.path().join(name))
        };
        assert_eq!(file("script", b"#!/bin/sh\necho hi\n"), Kind::Script);
        assert_eq!(file("short", b"\x7fELF"), Kind::Other, "a truncated file is not an error");
        assert_eq!(file("text", b"echo hi\n"), Kind::Other);
        assert_eq!(file("arm", &elf_header(0xb7)), Kind::Elf { machine: Some("aarch64"), interpreter: None });
        assert_eq!(inspect(&dir.path().join("missing")), Kind::Other);
    }
}
