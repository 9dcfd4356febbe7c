//! A service on disk for the emulator tests: its manifest and a package of fake
//! artifacts (the emulator never runs code), so no test compiles a handler.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// A service in a temp directory: serverless.yaml for stage `test` on the
/// emulator, and `.sls-rs/` holding a package of fake artifacts.
pub struct Fixture {
    pub dir: PathBuf,
    pub service: String,
}

impl Fixture {
    pub fn new(test: &str, functions: &str) -> Fixture {
        let service = super::unique_service(test);
        let dir = std::env::temp_dir().join(&service);
        std::fs::create_dir_all(dir.join(".sls-rs")).unwrap();
        let f = Fixture { dir, service };
        f.write(functions, &[]);
        f
    }

    /// Rewrites the manifest; `code` gives some functions other artifact bytes.
    pub fn write(&self, functions: &str, code: &[(&str, &str)]) {
        self.write_at(functions, code, &super::emulator().endpoint)
    }

    /// `write`, for a stage whose endpoint is `endpoint` (a proxy in front of the emulator).
    pub fn write_at(&self, functions: &str, code: &[(&str, &str)], endpoint: &str) {
        let manifest = format!(
            "service: {}\nprovider:\n  name: aws\n  stage: test\n  memorySize: 128\n  timeout: 3\n  logRetentionInDays: 7\n  tracing: {{ lambda: true }}\n  environment: {{ LOG_LEVEL: info }}\n  tags: {{ team: core }}\nstages:\n  test:\n    endpoint: {endpoint}\nfunctions:\n{functions}",
            self.service
        );
        std::fs::write(self.dir.join("serverless.yaml"), manifest).unwrap();
        let env = |_: &str| None;
        let opts = sls_rs::manifest::LoadOptions {
            config: None,
            stage: None,
            region: None,
            env: &env,
        };
        let service = sls_rs::manifest::load(&opts, &self.dir).unwrap();
        let mut functions = std::collections::BTreeMap::new();
        for (name, f) in &service.manifest.functions {
            let content = code
                .iter()
                .find(|(n, _)| n == name)
                .map_or("v1", |(_, c)| c);
            let zip = sls_rs::build::bootstrap_zip(
                format!("\x7fELF fake {} {name} {content}", self.service).as_bytes(),
            )
            .unwrap();
            let path = PathBuf::from(format!(".sls-rs/{name}.zip"));
            std::fs::write(self.dir.join(&path), &zip).unwrap();
            let artifact = sls_rs::build::Artifact {
                handler: f.handler.clone(),
                architecture: service.architecture(f),
                path,
                sha256: sls_rs::build::sha256_hex(&zip),
                size: zip.len() as u64,
                binary_sha256: String::new(),
                binary_size: 0,
            };
            functions.insert(name.clone(), artifact);
        }
        let package = sls_rs::build::PackageManifest {
            service: self.service.clone(),
            functions,
        };
        std::fs::write(
            self.dir.join(".sls-rs/package.json"),
            serde_json::to_vec(&package).unwrap(),
        )
        .unwrap();
    }

    pub fn name(&self, function: &str) -> String {
        format!("{}-test-{function}", self.service)
    }

    /// A function's role in the emulator's region: IAM is global, so it carries the region.
    pub fn role(&self, function: &str) -> String {
        format!("{}-{}", self.name(function), super::REGION)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = super::sls_rs();
        cmd.args(args).arg("-c").arg(&self.dir);
        if matches!(args.first(), Some(&"deploy") | Some(&"plan")) {
            cmd.arg("--package").arg(self.dir.join(".sls-rs"));
        }
        cmd
    }

    /// Runs a command with `--json`, expecting success; returns the document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut cmd = self.command(args);
        let (out, stdout, stderr) = super::run(cmd.arg("--json"));
        assert!(
            out.status.success(),
            "`sls-rs {}` failed:\n{stderr}",
            args.join(" ")
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
    }

    pub fn deploy(&self) -> Value {
        self.json(&["deploy"])
    }

    /// Starts a deploy and SIGKILLs it once it reported `steps` completed steps.
    pub fn deploy_killed_after(&self, steps: usize) {
        use std::io::{BufRead, BufReader};
        let mut child = self
            .command(&["deploy"])
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut seen = 0;
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.starts_with("  + ") || line.starts_with("  ~ ") || line.starts_with("  → ") {
                seen += 1;
            }
            if seen >= steps {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

pub fn mutating(report: &Value) -> Vec<String> {
    report["apiCalls"]["mutating"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

pub async fn aws() -> sls_rs::cloud::Aws {
    sls_rs::cloud::Aws::connect(&super::emulator().target())
        .await
        .unwrap()
}

pub async fn alias_version(aws: &sls_rs::cloud::Aws, function: &str) -> Option<String> {
    aws.lambda
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .ok()
        .and_then(|a| a.function_version)
}

/// An object of the fixture's stage in the deployment bucket (`state.json`,
/// `lock.json`), as stored; `None` when there is none.
pub async fn stage_object(aws: &sls_rs::cloud::Aws, f: &Fixture, name: &str) -> Option<String> {
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    let got = aws
        .s3
        .get_object()
        .bucket(bucket)
        .key(format!("services/{}/test/{name}", f.service))
        .send()
        .await
        .ok()?;
    let bytes = got.body.collect().await.unwrap().into_bytes();
    Some(String::from_utf8(bytes.to_vec()).unwrap())
}

/// Replaces an object of the fixture's stage, as a crash or another tool would leave it.
pub async fn put_stage_object(aws: &sls_rs::cloud::Aws, f: &Fixture, name: &str, body: Vec<u8>) {
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(format!("services/{}/test/{name}", f.service))
        .body(body.into())
        .send()
        .await
        .unwrap();
}
