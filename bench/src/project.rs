//! The benchmark workload: one SAM project that esb and SAM CLI both run unchanged.
//!
//! Owns: writing the project (a Python 3.11 function on a REST route, a `provided.al2023` custom
//! runtime on an HTTP API route, a Makefile so `sam build` can build the custom runtime, a Node.js
//! 20 ES module and a Java 21 POJO handler (compiled with the host's javac) on HTTP API routes,
//! measured by esb only: SAM's Node.js and Java images cannot be built here) and the
//! edits that stand for "the developer saved new code". Must not: start anything.

use std::path::{Path, PathBuf};

/// A runtime the workload has one function for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Python,
    Provided,
    Node,
    Java,
}

impl Runtime {
    pub const ALL: [Runtime; 4] = [Runtime::Python, Runtime::Provided, Runtime::Node, Runtime::Java];
    /// The ones SAM CLI runs here (its Node.js image comes from a registry).
    pub const SAM: [Runtime; 2] = [Runtime::Python, Runtime::Provided];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Python => "python3.11",
            Runtime::Provided => "provided.al2023",
            Runtime::Node => "nodejs20.x",
            Runtime::Java => "java21",
        }
    }

    /// The route that invokes the runtime's function.
    pub fn path(self) -> &'static str {
        match self {
            Runtime::Python => "/hello",
            Runtime::Provided => "/echo",
            Runtime::Node => "/node",
            Runtime::Java => "/java",
        }
    }

    /// The function's logical id.
    pub fn function(self) -> &'static str {
        match self {
            Runtime::Python => "Hello",
            Runtime::Provided => "Echo",
            Runtime::Node => "Node",
            Runtime::Java => "Java",
        }
    }
}

const TEMPLATE: &str = "\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: esb benchmark workload (esb-bench writes it)
Globals:
  Function:
    Timeout: 10
    MemorySize: 128
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.handler
      Runtime: python3.11
      Events:
        Get:
          Type: Api
          Properties: {Path: /hello, Method: get}
  Echo:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: makefile
    Properties:
      CodeUri: echo/
      Handler: bootstrap
      Runtime: provided.al2023
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: /echo, Method: get}
  Node:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: node/
      Handler: app.handler
      Runtime: nodejs20.x
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: /node, Method: get}
  Java:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: java/classes/
      Handler: bench.Hello::handle
      Runtime: java21
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: /java, Method: get}
";

/// The workload on disk.
pub struct Project {
    pub dir: tempfile::TempDir,
    /// Its esb project name (unique per run, so runs never share containers).
    pub name: String,
}

impl Project {
    /// Writes the workload into a fresh temp dir; `bootstrap` is the echo custom runtime's binary.
    pub fn write(bootstrap: &Path) -> std::io::Result<Project> {
        let dir = tempfile::tempdir()?;
        let name = format!("bench{}", std::process::id());
        let root = dir.path();
        std::fs::write(root.join("template.yaml"), TEMPLATE)?;
        std::fs::write(
            root.join("generator.yml"),
            format!(
                "app:\n  name: {name}\n  tag: latest\n  region: us-east-1\npaths:\n  sam_template: template.yaml\n  output_dir: .esb\n"
            ),
        )?;
        std::fs::create_dir_all(root.join("hello"))?;
        std::fs::create_dir_all(root.join("echo"))?;
        std::fs::create_dir_all(root.join("node"))?;
        std::fs::create_dir_all(root.join("java/src/bench"))?;
        std::fs::copy(bootstrap, root.join("echo/bootstrap"))?;
        std::fs::write(root.join("echo/Makefile"), "build-Echo:\n\tcp bootstrap VERSION $(ARTIFACTS_DIR)/\n")?;
        let p = Project { dir, name };
        p.save(Runtime::Python, "v0")?;
        p.save(Runtime::Provided, "v0")?;
        p.save(Runtime::Node, "v0")?;
        p.save(Runtime::Java, "v0")?;
        Ok(p)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// "Saves new code": the function's answer becomes `marker`. Python: the handler's source.
    /// Custom runtime: the `VERSION` file beside `bootstrap` (read when the runtime starts, so only
    /// a new container shows it, as with a rebuilt binary). Java: the source, compiled by javac
    /// into the classes directory that is CodeUri.
    pub fn save(&self, runtime: Runtime, marker: &str) -> std::io::Result<PathBuf> {
        let (file, text) = match runtime {
            Runtime::Python => (
                self.root().join("hello/app.py"),
                format!("def handler(event, context):\n    return {{\"statusCode\": 200, \"body\": \"{marker}\"}}\n"),
            ),
            Runtime::Provided => (self.root().join("echo/VERSION"), format!("{marker}\n")),
            Runtime::Node => (
                self.root().join("node/app.mjs"),
                format!("export const handler = async () => ({{ statusCode: 200, body: \"{marker}\" }});\n"),
            ),
            Runtime::Java => return self.save_java(marker),
        };
        // Write and rename, as editors do, so a watcher never sees half a file.
        let tmp = file.with_extension("tmp-save");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &file)?;
        Ok(file)
    }

    /// The Java function's source with `marker`, compiled into its classes directory.
    fn save_java(&self, marker: &str) -> std::io::Result<PathBuf> {
        let source = self.root().join("java/src/bench/Hello.java");
        let text = format!(
            "package bench;\n\npublic class Hello {{\n    public java.util.Map<String, Object> handle(java.util.Map<String, Object> event) {{\n        \
             return java.util.Map.of(\"statusCode\", 200, \"body\", \"{marker}\");\n    }}\n}}\n"
        );
        std::fs::write(&source, text)?;
        let status = std::process::Command::new("javac")
            .args(["--release", "11", "-nowarn", "-d"])
            .arg(self.root().join("java/classes"))
            .arg(&source)
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other("javac failed on the benchmark's Java function"));
        }
        Ok(self.root().join("java/classes/bench/Hello.class"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_has_both_functions_and_saves_change_what_they_answer() {
        let fake = tempfile::NamedTempFile::new().unwrap();
        let p = Project::write(fake.path()).unwrap();
        assert!(std::fs::read_to_string(p.root().join("template.yaml")).unwrap().contains("provided.al2023"));
        p.save(Runtime::Python, "v7").unwrap();
        assert!(std::fs::read_to_string(p.root().join("hello/app.py")).unwrap().contains("\"v7\""));
        p.save(Runtime::Provided, "v8").unwrap();
        assert_eq!(std::fs::read_to_string(p.root().join("echo/VERSION")).unwrap(), "v8\n");
        assert!(!p.root().join("echo/VERSION.tmp-save").exists());
        p.save(Runtime::Node, "v9").unwrap();
        assert!(std::fs::read_to_string(p.root().join("node/app.mjs")).unwrap().contains("body: \"v9\""));
    }
}
