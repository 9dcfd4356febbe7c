//! The bad-manifest corpus: every file under tests/manifests/bad is run
//! through the real binary, which must exit 2 and name the file, line, column,
//! key and problem. The header of each file says what is expected:
//!
//! ```text
//! # expect: LINE:COL [KEY PATH]
//! # message: text the error must contain
//! # help: text the help line must contain (optional)
//! ```

use crate::support;

use std::path::Path;

struct Expectation {
    line: usize,
    col: usize,
    key: Option<String>,
    message: String,
    help: Option<String>,
}

fn expectation(path: &Path) -> Expectation {
    let text = std::fs::read_to_string(path).unwrap();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {name}: ")))
            .map(|v| v.trim().to_string())
    };
    let expect =
        header("expect").unwrap_or_else(|| panic!("{} has no `# expect:` header", path.display()));
    let (pos, key) = match expect.split_once(' ') {
        Some((pos, key)) => (pos.to_string(), Some(key.to_string())),
        None => (expect.clone(), None),
    };
    let (line, col) = pos.split_once(':').expect("expect: LINE:COL");
    Expectation {
        line: line.parse().unwrap(),
        col: col.parse().unwrap(),
        key,
        message: header("message")
            .unwrap_or_else(|| panic!("{} has no `# message:` header", path.display())),
        help: header("help"),
    }
}

fn check(path: &Path) -> Result<(), String> {
    let want = expectation(path);
    let (out, stdout, stderr) = support::run(support::sls_rs().arg("validate").arg("-c").arg(path));
    let mut problems = Vec::new();
    if out.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, expected 2", out.status.code()));
    }
    if !stdout.is_empty() {
        problems.push(format!("stdout should be empty, got {stdout:?}"));
    }
    let location = format!("--> {}:{}:{}", path.display(), want.line, want.col);
    if !stderr.contains(&location) {
        problems.push(format!("stderr lacks `{location}`"));
    }
    if let Some(key) = &want.key {
        if !stderr.contains(&format!("error: {key}: ")) {
            problems.push(format!("stderr does not name the key `{key}`"));
        }
    }
    if !stderr.contains(&want.message) {
        problems.push(format!("stderr lacks the message `{}`", want.message));
    }
    if let Some(help) = &want.help {
        if !stderr
            .lines()
            .any(|l| l.contains("= help:") && l.contains(help.as_str()))
        {
            problems.push(format!("stderr lacks the help `{help}`"));
        }
    }

    // The same problem, as one JSON document on stdout for CI.
    let (out, stdout, _) = support::run(
        support::sls_rs()
            .arg("validate")
            .arg("--json")
            .arg("-c")
            .arg(path),
    );
    match serde_json::from_str::<serde_json::Value>(&stdout) {
        Ok(doc) => {
            let first = &doc["errors"][0];
            if out.status.code() != Some(2) || doc["valid"] != false {
                problems.push("--json: expected exit 2 and valid: false".into());
            }
            if first["line"] != want.line || first["column"] != want.col {
                problems.push(format!(
                    "--json: first error at {}:{}",
                    first["line"], first["column"]
                ));
            }
            if let Some(key) = &want.key {
                if first["key"] != key.as_str() {
                    problems.push(format!("--json: key {}", first["key"]));
                }
            }
        }
        Err(e) => problems.push(format!("--json: stdout is not JSON ({e}): {stdout:?}")),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}:\n  {}\n--- stderr ---\n{stderr}",
            path.display(),
            problems.join("\n  ")
        ))
    }
}

#[test]
fn every_bad_manifest_exits_2_naming_file_line_key_and_problem() {
    let dir = support::repo_root().join("tests/manifests/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 25,
        "the corpus holds {} manifests, expected at least 25",
        files.len()
    );
    let failures: Vec<String> = files.iter().filter_map(|f| check(f).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} bad manifests were not reported as expected:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn several_problems_are_reported_together() {
    let dir = std::env::temp_dir().join(support::unique_service("several"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("serverless.yml");
    std::fs::write(&file, "service: todo\nprovider:\n  name: aws\n  memorySize: 1\n  timeout: 0\nfunctions:\n  hello: { handler: hello }\n").unwrap();
    // serverless.yml is found in the working directory without -c.
    let (out, _, stderr) = support::run(support::sls_rs().arg("validate").current_dir(&dir));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("serverless.yml:4:15"), "{stderr}");
    assert!(stderr.contains("serverless.yml:5:12"), "{stderr}");
    assert!(stderr.contains("has 2 problems"), "{stderr}");
}

/// Writes `text` as the serverless.yaml of a fresh directory and returns its path.
fn manifest_file(test: &str, text: impl AsRef<[u8]>) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(support::unique_service(test));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("serverless.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn a_fallback_written_as_a_bare_address_is_resolved_not_deployed_as_text() {
    let file = manifest_file(
        "bare-fallback",
        "service: todo\n\
         custom:\n  tableName: todos-table\n\
         provider:\n  name: aws\n  region: eu-west-1\n  environment:\n    TABLE: ${env:TABLE_NAME_UNSET_12, self:custom.tableName}\n    STAGE: ${opt:stage, self:provider.stage}\n    TEAM: ${opt:team, platform}\n\
         \x20 iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: dynamodb:GetItem\n          Resource: arn:aws:dynamodb:${opt:region, self:provider.region}:123456789012:table/${self:custom.tableName}\n\
         functions:\n  hello:\n    handler: hello\n",
    );
    let (out, stdout, stderr) = support::run(
        support::sls_rs()
            .args(["print", "--json", "-c"])
            .arg(&file)
            .env_remove("TABLE_NAME_UNSET_12"),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let env = &doc["provider"]["environment"];
    assert_eq!(env["TABLE"], "todos-table", "{stdout}");
    assert_eq!(env["STAGE"], "dev", "{stdout}");
    assert_eq!(env["TEAM"], "platform", "{stdout}");
    assert_eq!(
        doc["provider"]["iam"]["role"]["statements"][0]["Resource"][0],
        "arn:aws:dynamodb:eu-west-1:123456789012:table/todos-table"
    );
}

#[test]
fn serverless_framework_spellings_validate() {
    // A byte-order mark, the v1 `service: { name }` form and `httpApi.cors: true`.
    let file = manifest_file(
        "spellings",
        "\u{feff}service:\n  name: todo\nprovider:\n  name: aws\n  httpApi:\n    cors: true\nfunctions:\n  hello:\n    handler: hello\n    events:\n      - httpApi: GET /todos\n",
    );
    let (out, stdout, stderr) =
        support::run(support::sls_rs().args(["print", "--json", "-c"]).arg(&file));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["service"], "todo");
    assert_eq!(doc["provider"]["httpApi"]["cors"]["allowedOrigins"][0], "*");
}

#[test]
fn with_json_every_usage_error_is_the_json_document_on_stdout() {
    let empty = std::env::temp_dir().join(support::unique_service("no-manifest"));
    std::fs::create_dir_all(&empty).unwrap();
    let not_utf8 = manifest_file("not-utf8", b"service: \xff\xfe\n".as_slice());
    let cases = [
        (
            support::sls_rs()
                .args(["validate", "--json"])
                .current_dir(&empty)
                .output()
                .unwrap(),
            "no serverless.yaml or serverless.yml",
        ),
        (
            support::sls_rs()
                .args(["validate", "--json", "-c", "/nonexistent/serverless.yaml"])
                .output()
                .unwrap(),
            "does not exist",
        ),
        (
            support::sls_rs()
                .args(["validate", "--json", "-c"])
                .arg(&not_utf8)
                .output()
                .unwrap(),
            "cannot read",
        ),
        (
            support::sls_rs()
                .args(["validate", "--json", "--stage", "no_underscores"])
                .current_dir(&empty)
                .output()
                .unwrap(),
            "is not a valid stage name",
        ),
        (
            support::sls_rs()
                .args(["validate", "--json", "--frobnicate"])
                .output()
                .unwrap(),
            "unexpected argument '--frobnicate'",
        ),
    ];
    for (out, want) in cases {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{stdout}");
        let doc: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout:?}"));
        assert_eq!(doc["valid"], false);
        let message = doc["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(want), "{message}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const HEAD: &str =
    "service: todo\nprovider:\n  name: aws\nfunctions:\n  hello:\n    handler: hello\n";

/// Twenty anchors, each a list 90 deep around an alias of the one before: every
/// mapping opens within the limit, but the aliases paste 1,800 levels.
fn deep_aliases() -> String {
    let mut s = format!(
        "{HEAD}custom:\n  a0: &a0 {}x{}\n",
        "[".repeat(90),
        "]".repeat(90)
    );
    for i in 1..20 {
        let p = i - 1;
        s += &format!("  a{i}: &a{i} {}*a{p}{}\n", "[".repeat(90), "]".repeat(90));
    }
    s
}

#[test]
fn migrate_refuses_aliases_nesting_past_the_limit_instead_of_overflowing() {
    let file = manifest_file("deep-aliases", deep_aliases());
    let out_file = file.with_file_name("deep-aliases-out.yaml");
    let (out, _, stderr) = support::run(
        support::sls_rs()
            .arg("migrate")
            .arg(&file)
            .arg("-o")
            .arg(&out_file),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mappings and lists nest more than 100 levels deep"),
        "{stderr}"
    );
    assert!(!out_file.exists());
}

#[test]
fn many_lookups_inside_a_value_made_by_a_variable_do_not_copy_it_each_time() {
    // `custom.big` is a variable whose value is a mapping of 8,000 keys; each of 8,000
    // values looks one key up in it. Copying the mapping per lookup took 15 s here.
    let n = 8_000;
    let mut text = format!("{HEAD}custom:\n  big: ${{self:custom.t}}\n  t:\n");
    for i in 0..n {
        text += &format!("    k{i}: v{i}\n");
    }
    text += "  r:\n";
    for i in 0..n {
        text += &format!("    r{i}: ${{self:custom.big.k{i}}}\n");
    }
    let file = manifest_file("many-lookups", &text);
    let started = std::time::Instant::now();
    let (out, _, stderr) = support::run(support::sls_rs().args(["validate", "-c"]).arg(&file));
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // A debug build on a busy machine: about 2 s; copying per lookup took 15 s.
    assert!(took.as_secs() < 6, "took {took:?}");
}

/// Inputs built to exhaust the reader (stack, memory, time), each with the message
/// naming the limit that stops it. benches/hostile.py builds the same and measures them.
fn hostile_inputs() -> Vec<(&'static str, String, &'static str)> {
    let lines = |n: usize, line: &dyn Fn(usize) -> String| -> String {
        (0..n).map(|i| line(i) + "\n").collect()
    };
    let laughs = {
        let mut s = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            s += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            );
        }
        s
    };
    vec![
        (
            "deep block list",
            format!("{HEAD}custom:\n  x:\n    {}a\n", "- ".repeat(10_000)),
            "mappings and lists nest more than 100 levels deep",
        ),
        (
            "deep flow list",
            format!(
                "{HEAD}custom:\n  x: {}{}\n",
                "[".repeat(10_000),
                "]".repeat(10_000)
            ),
            "mappings and lists nest more than 100 levels deep",
        ),
        (
            "aliases pasting deep anchors",
            deep_aliases(),
            "mappings and lists nest more than 100 levels deep",
        ),
        (
            "nested variables",
            format!(
                "{HEAD}  description: {}a{}\n",
                "${self:".repeat(2_000),
                "}".repeat(2_000)
            ),
            "variables are nested more than 10 deep",
        ),
        (
            "alias bomb",
            format!(
                "{HEAD}custom:\n{}",
                laughs
                    .lines()
                    .map(|l| format!("  {l}\n"))
                    .collect::<String>()
            ),
            "anchors and aliases (`&name`, `*name`) expand the manifest to more than 100000 values",
        ),
        (
            "string doubling",
            format!(
                "{HEAD}custom:\n  s0: {}\n{}",
                "x".repeat(32),
                lines(40, &|i| format!(
                    "  s{}: ${{self:custom.s{i}}}${{self:custom.s{i}}}",
                    i + 1
                ))
            ),
            "the value is longer than 1 MiB once its variables are resolved",
        ),
        (
            "list doubling",
            format!(
                "{HEAD}custom:\n  l0: [x]\n{}",
                lines(40, &|i| format!(
                    "  l{}: ['${{self:custom.l{i}}}', '${{self:custom.l{i}}}']",
                    i + 1
                ))
            ),
            "variables expand the manifest to more than 100000 values",
        ),
        (
            "200000 keys",
            format!(
                "{HEAD}custom:\n{}",
                lines(200_000, &|i| format!("  key{i}: v"))
            ),
            "the manifest holds more than 100000 values",
        ),
        (
            "49000 keys, one twice",
            format!(
                "{HEAD}custom:\n{}  key0: again\n",
                lines(49_000, &|i| format!("  key{i}: v"))
            ),
            "duplicate key `key0`",
        ),
        (
            "reference chain",
            format!(
                "{HEAD}custom:\n{}  a10000: end\n",
                lines(10_000, &|i| format!("  a{i}: ${{self:custom.a{}}}", i + 1))
            ),
            "variables refer through more than 250 levels of values",
        ),
        (
            "nesting by variables",
            format!(
                "{HEAD}custom:\n  a0: leaf\n{}",
                lines(300, &|i| format!(
                    "  a{}: {{ x: '${{self:custom.a{i}}}' }}",
                    i + 1
                ))
            ),
            "variables nest the manifest more than 100 levels deep",
        ),
        (
            "NUL in a value",
            format!("{HEAD}    description: \"before\\0after\"\n"),
            "the value holds the control character U+0000",
        ),
    ]
}

#[test]
fn hostile_input_ends_with_exit_2_naming_the_limit_quickly() {
    let mut failures = Vec::new();
    for (name, text, want) in hostile_inputs() {
        let file = manifest_file("hostile", &text);
        let started = std::time::Instant::now();
        let (out, _, stderr) = support::run(support::sls_rs().args(["validate", "-c"]).arg(&file));
        let took = started.elapsed();
        // Generous for a debug build on a busy machine; release takes well under a second.
        if out.status.code() != Some(2) || !stderr.contains(want) || took.as_secs() >= 5 {
            failures.push(format!(
                "{name} ({} bytes): exit {:?} in {took:?}, expected 2 and `{want}`:\n{}",
                text.len(),
                out.status.code(),
                stderr.chars().take(600).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
