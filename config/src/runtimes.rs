//! The runtime catalog: every Lambda runtime id esb knows, and what it runs on here.
//!
//! Owns: the one table from a template's `Runtime` to the base image esb builds for it, the
//! interpreter version that base carries (exact, or the nearest newer one Debian has), the Debian
//! suite it comes from, and the reason a known runtime cannot run offline. The images crate turns
//! an entry's [`BaseImage`] into a recipe (packages, runtime client); nothing else maps runtimes.
//! Must not: build anything, or guess: a runtime id not in the table is unknown, with the nearest
//! valid one as a hint.
//!
//! Where the versions come from (measured on Debian's archive, issue 20): bookworm has python3.11
//! and nodejs 18, trixie python3.13 and nodejs 20.19, sid python3.13, python3.14, python3.15 and
//! nodejs 24. Debian has no python3.12 or nodejs 22: those run on the nearest newer interpreter,
//! and esb says so once per build. Java (issue 21): bookworm has openjdk 17, trixie 21 and 25, sid
//! 8, 11, 17, 21, 25; every Lambda Java runtime runs on its exact JRE.

use crate::model::BaseImage;

/// What a runtime id runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Lambda's runtime id, e.g. `nodejs24.x`.
    pub id: &'static str,
    /// The runtime's family.
    pub family: Family,
    /// The interpreter version the template asks for (`3.12`, `22`).
    pub wanted: &'static str,
    /// The interpreter version esb's base carries (`3.13`, `24`); equal to `wanted` when exact.
    pub version: &'static str,
    /// The Debian suite the interpreter comes from.
    pub suite: &'static str,
}

/// Runtime families esb builds bases for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// CPython + awslambdaric.
    Python,
    /// Node.js + esb's own runtime client.
    Node,
    /// A JRE + esb's own Java runtime client.
    Java,
    /// A custom runtime: the function's own `bootstrap` on an empty base.
    Provided,
}

impl Entry {
    /// True when the base carries exactly the version the template asks for.
    pub fn exact(&self) -> bool {
        self.wanted == self.version
    }

    /// The base image functions of this runtime build on.
    pub fn base(&self) -> BaseImage {
        match self.family {
            Family::Python => BaseImage::Python { version: self.version.into() },
            Family::Node => BaseImage::Node { version: self.version.into() },
            Family::Java => BaseImage::Java { version: self.version.into() },
            Family::Provided => BaseImage::Provided,
        }
    }

    /// The once-per-build note for a runtime that runs on another version, e.g. `python3.12
    /// functions run on Python 3.13 (Debian has no 3.12)`.
    pub fn nearest_note(&self) -> Option<String> {
        let name = match self.family {
            Family::Python => "Python",
            Family::Node => "Node.js",
            Family::Java => "Java",
            Family::Provided => return None,
        };
        (!self.exact()).then(|| {
            format!("{} functions run on {name} {} (Debian has no {name} {}; the nearest newer one)", self.id, self.version, self.wanted)
        })
    }
}

const fn python(id: &'static str, wanted: &'static str, version: &'static str, suite: &'static str) -> Entry {
    Entry { id, family: Family::Python, wanted, version, suite }
}

const fn node(id: &'static str, wanted: &'static str, version: &'static str, suite: &'static str) -> Entry {
    Entry { id, family: Family::Node, wanted, version, suite }
}

const fn java(id: &'static str, version: &'static str, suite: &'static str) -> Entry {
    Entry { id, family: Family::Java, wanted: version, version, suite }
}

const fn provided(id: &'static str) -> Entry {
    Entry { id, family: Family::Provided, wanted: "", version: "", suite: "" }
}

/// Every runtime esb runs.
pub const CATALOG: &[Entry] = &[
    python("python3.8", "3.8", "3.11", "bookworm"),
    python("python3.9", "3.9", "3.11", "bookworm"),
    python("python3.10", "3.10", "3.11", "bookworm"),
    python("python3.11", "3.11", "3.11", "bookworm"),
    python("python3.12", "3.12", "3.13", "trixie"),
    python("python3.13", "3.13", "3.13", "trixie"),
    python("python3.14", "3.14", "3.14", "sid"),
    node("nodejs16.x", "16", "18", "bookworm"),
    node("nodejs18.x", "18", "18", "bookworm"),
    node("nodejs20.x", "20", "20", "trixie"),
    node("nodejs22.x", "22", "24", "sid"),
    node("nodejs24.x", "24", "24", "sid"),
    java("java8", "8", "sid"),
    java("java8.al2", "8", "sid"),
    java("java11", "11", "sid"),
    java("java17", "17", "bookworm"),
    java("java21", "21", "trixie"),
    java("java25", "25", "trixie"),
    provided("provided"),
    provided("go1.x"),
    provided("provided.al2"),
    provided("provided.al2023"),
];

/// A Debian suite esb makes root filesystems from, and the interpreters esb takes from it. Both
/// interpreters go into one root filesystem per suite, so the Python and the Node.js base of a
/// suite share one debootstrap and one image layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// `bookworm`, `trixie`, `sid`.
    pub name: &'static str,
    /// Its CPython (`3.11`); the package is `python<version>`.
    pub python: &'static str,
    /// Its Node.js major version (package `nodejs`).
    pub node: &'static str,
}

/// The suites, oldest first.
pub const SUITES: &[Suite] = &[
    Suite { name: "bookworm", python: "3.11", node: "18" },
    Suite { name: "trixie", python: "3.13", node: "20" },
    Suite { name: "sid", python: "3.14", node: "24" },
];

/// The JREs a suite's Java root filesystem carries: every Java version the catalog takes from it
/// (`8`, `11` for sid), so Java 21 and 25 share trixie's debootstrap and image layer.
pub fn java_versions(suite: &Suite) -> Vec<&'static str> {
    let mut out: Vec<&'static str> =
        CATALOG.iter().filter(|e| e.family == Family::Java && e.suite == suite.name).map(|e| e.version).collect();
    out.dedup();
    out
}

/// The suite a base image's interpreter (or C library) comes from (`None` for the static
/// provided base).
pub fn suite_of(base: &BaseImage) -> Option<&'static Suite> {
    match base {
        BaseImage::Java { version } => {
            let entry = CATALOG.iter().find(|e| e.family == Family::Java && e.version == version)?;
            SUITES.iter().find(|s| s.name == entry.suite)
        }
        BaseImage::Python { version } => SUITES.iter().find(|s| s.python == version),
        BaseImage::Node { version } => SUITES.iter().find(|s| s.node == version),
        BaseImage::ProvidedGlibc => SUITES.first(),
        BaseImage::Provided => None,
    }
}

/// Runtimes Lambda has that esb cannot run offline yet, with the reason (a prefix match).
const NOT_YET: &[(&str, &str)] = &[
    ("java", "this Java version is not a Lambda runtime esb knows; use java8, java11, java17, java21 or java25"),
    ("dotnet", ".NET is not in Debian's archive, so esb has no offline base for it"),
    ("ruby", "Ruby functions need a Ruby runtime client, which esb does not carry yet"),
    ("nodejs", "this Node.js version is older than any Debian has; use nodejs18.x or newer"),
    ("python", "this Python version is older than any Debian has; use python3.9 or newer"),
];

/// What esb can do with a runtime id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// It runs.
    Runs(Entry),
    /// A real Lambda runtime esb cannot run offline, and why.
    NotYet(&'static str),
    /// Not a Lambda runtime; the nearest valid id, when one is close.
    Unknown(Option<&'static str>),
}

/// Looks `runtime` up in the catalog.
pub fn lookup(runtime: &str) -> Lookup {
    if let Some(e) = CATALOG.iter().find(|e| e.id == runtime) {
        return Lookup::Runs(*e);
    }
    if let Some((_, why)) = NOT_YET.iter().find(|(prefix, _)| runtime.starts_with(prefix) && plausible(runtime)) {
        return Lookup::NotYet(why);
    }
    Lookup::Unknown(crate::error::closest(runtime, CATALOG.iter().map(|e| e.id)))
}

/// Shaped like a Lambda runtime id (`java21`, `java8.al2`, `dotnet8`, `dotnetcore3.1`, `ruby3.3`,
/// `nodejs14.x`, `python3.7`): a version after the name, dotted for Node.js and Python.
fn plausible(runtime: &str) -> bool {
    let Some(at) = runtime.find(|c: char| c.is_ascii_digit()) else { return false };
    let (name, version) = runtime.split_at(at);
    !matches!(name, "nodejs" | "python") || version.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_runtime_runs_on_its_own_version_or_the_nearest_newer_one() {
        let Lookup::Runs(e) = lookup("python3.14") else { panic!() };
        assert_eq!((e.version, e.suite, e.exact()), ("3.14", "sid", true));
        assert_eq!(e.base(), BaseImage::Python { version: "3.14".into() });
        let Lookup::Runs(e) = lookup("python3.12") else { panic!() };
        assert_eq!((e.version, e.exact()), ("3.13", false));
        assert!(e.nearest_note().unwrap().contains("python3.12 functions run on Python 3.13"));
        let Lookup::Runs(e) = lookup("nodejs22.x") else { panic!() };
        assert_eq!((e.base(), e.exact()), (BaseImage::Node { version: "24".into() }, false));
        let Lookup::Runs(e) = lookup("nodejs20.x") else { panic!() };
        assert_eq!((e.suite, e.nearest_note()), ("trixie", None));
        assert_eq!(lookup("provided.al2023"), Lookup::Runs(provided("provided.al2023")));
        let Lookup::Runs(e) = lookup("java25") else { panic!() };
        assert_eq!((e.base(), e.suite, e.exact()), (BaseImage::Java { version: "25".into() }, "trixie", true));
        let trixie = SUITES.iter().find(|s| s.name == "trixie").unwrap();
        assert_eq!(java_versions(trixie), ["21", "25"], "Java 21 and 25 share trixie's root filesystem");
        assert_eq!(java_versions(SUITES.iter().find(|s| s.name == "sid").unwrap()), ["8", "11"]);
        // Every entry's interpreter is its suite's.
        for e in CATALOG.iter().filter(|e| e.family != Family::Provided) {
            assert_eq!(suite_of(&e.base()).map(|s| s.name), Some(e.suite), "{}", e.id);
        }
    }

    #[test]
    fn a_known_runtime_that_cannot_run_says_why_and_a_typo_names_the_nearest() {
        assert!(matches!(lookup("java23"), Lookup::NotYet(why) if why.contains("java25")));
        assert!(matches!(lookup("dotnet8"), Lookup::NotYet(why) if why.contains(".NET")));
        assert!(matches!(lookup("nodejs14.x"), Lookup::NotYet(_)));
        assert_eq!(lookup("pyhton3.12"), Lookup::Unknown(Some("python3.12")));
        assert_eq!(lookup("nodejs24"), Lookup::Unknown(Some("nodejs24.x")));
        assert!(matches!(lookup("cobol"), Lookup::Unknown(_)));
    }
}
