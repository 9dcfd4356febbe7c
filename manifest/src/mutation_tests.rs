//! A bounded, seeded stand-in for fuzzing: thousands of manifests mutated from the
//! repository's own (the examples, serverless.yaml.example, the bad corpus) go
//! through the whole reader (YAML, variables, types, validate). Each must load or be
//! refused with diagnostics (exit 2): never a panic. An input that once broke the
//! reader is kept in tests/manifests/regressions/ and replayed first.

use std::path::{Path, PathBuf};

use super::{load_str, LoadOptions};

/// Pieces that reach the reader's corners: variables, anchors, flow collections,
/// tags, escapes, CloudFormation spellings, a byte-order mark.
const TOKENS: &[&str] = &[
    "${",
    "}",
    "${self:",
    "${self:custom}",
    "${opt:stage, self:provider.stage}",
    "${env:X, env:Y, 'z'}",
    "${sls:stage}",
    "${aws:region}",
    "${table:t.arn}",
    "${file(x.yml)}",
    "&a ",
    "*a",
    "<<: *a\n",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ": ",
    ",",
    "\n",
    "  ",
    "    ",
    "'",
    "\"",
    "\\0",
    "\\x01",
    "!Ref ",
    "Fn::GetAtt: [T, Arn]",
    "Ref: T",
    "~",
    "null",
    "true",
    "\t",
    "\u{feff}",
    "#",
    "---\n",
    "? ",
    "|\n",
    ">-\n",
    "0x1F",
    "1e400",
    "-1",
    "99999999999999999999",
    "é",
    "\u{0}",
    "events:\n",
    "httpApi: GET /x",
    "schedule: rate(1 day)",
    "sqs: q",
    "stream: { table: t }",
    "permissions:\n",
    "- { table: t, access: read }",
    "tables:\n",
    "t: { partitionKey: { name: id, type: S } }",
];

fn seeds() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("serverless.yaml.example")];
    for dir in ["examples", "tests/manifests/bad"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let manifest = path.join("serverless.yaml");
            if manifest.is_file() {
                files.push(manifest);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect()
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A char boundary at or before `i`.
fn boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(rng: &mut Rng, text: &str, other: &str) -> String {
    let mut s = text.to_string();
    for _ in 0..1 + rng.below(4) {
        let at = boundary(&s, rng.below(s.len() + 1));
        match rng.below(6) {
            0 => s.insert_str(at, TOKENS[rng.below(TOKENS.len())]),
            1 => {
                let end = boundary(&s, at + rng.below(40));
                s.replace_range(at..end, "");
            }
            2 => {
                let end = boundary(&s, at + rng.below(80));
                let copy = s[at..end].to_string();
                s.insert_str(end, &copy);
            }
            3 => {
                let lines: Vec<&str> = other.lines().collect();
                let line = format!("{}\n", lines[rng.below(lines.len())]);
                let start = boundary(&s, s[..at].rfind('\n').map_or(0, |i| i + 1));
                s.insert_str(start, &line);
            }
            4 => {
                let mut lines: Vec<&str> = s.lines().collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(a, b);
                }
                s = lines.join("\n");
            }
            _ => {
                // Re-indent a line: YAML's structure lives in its indentation.
                let start = s[..at].rfind('\n').map_or(0, |i| i + 1);
                if rng.below(2) == 0 {
                    s.insert_str(start, "  ");
                } else if s[start..].starts_with("  ") {
                    s.replace_range(start..start + 2, "");
                }
            }
        }
    }
    s
}

/// Loads `text` as a manifest: whether it loaded, or Err with the panic message.
fn survives(text: &str) -> Result<bool, String> {
    let env = |name: &str| (name == "X").then(|| "from-env".to_string());
    let opts = LoadOptions {
        config: None,
        stage: None,
        region: None,
        env: &env,
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Ok, or diagnostics (exit 2): both are answers; only a panic is a failure.
        match load_str(Path::new("serverless.yaml"), text, &opts) {
            Ok(_) => true,
            Err(e) => {
                assert!(!e.diagnostics.is_empty(), "an error without a diagnostic");
                // A line the user's editor has (the snippet shows it), as scripts/fuzz checks.
                let lines = text.lines().count() + 1;
                for d in &e.diagnostics {
                    assert!(
                        d.mark.line <= lines,
                        "a diagnostic at line {} of {lines}",
                        d.mark.line
                    );
                }
                let _ = e.to_string();
                false
            }
        }
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn thousands_of_mutated_manifests_never_panic_the_reader() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/manifests/regressions");
    if let Ok(dir) = std::fs::read_dir(&root) {
        for entry in dir {
            let path = entry.unwrap().path();
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            if let Err(panic) = survives(&text) {
                panic!("{} panics the reader again: {panic}", path.display());
            }
        }
    }
    let seeds = seeds();
    assert!(seeds.len() > 20, "{} seed manifests", seeds.len());
    let cases: usize = std::env::var("SLS_RS_MUTATION_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("SLS_RS_MUTATION_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5eed_f00d);
    let mut rng = Rng(seed | 1);
    // Panics are expected to be caught here; keep the default hook from printing each one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut found = Vec::new();
    let mut loaded = 0;
    // Mostly valid manifests, so mutations reach variables, types and validate, not just YAML.
    let valid: Vec<usize> = (0..seeds.len())
        .filter(|i| survives(&seeds[*i].1) == Ok(true))
        .collect();
    assert!(valid.len() >= 4, "{} seed manifests load", valid.len());
    for case in 0..cases {
        let pick = match rng.below(4) {
            0 => rng.below(seeds.len()),
            _ => valid[rng.below(valid.len())],
        };
        let (file, text) = &seeds[pick];
        let other = &seeds[rng.below(seeds.len())].1;
        let input = mutate(&mut rng, text, other);
        match survives(&input) {
            Ok(ok) => loaded += usize::from(ok),
            Err(panic) => {
                found.push(format!(
                    "case {case} (from {}): {panic}\n--- input ---\n{input}\n---",
                    file.display()
                ));
                if found.len() == 5 {
                    break;
                }
            }
        }
    }
    std::panic::set_hook(hook);
    // Mutations that all fail at the first line would test nothing past the YAML reader.
    assert!(
        (cases / 20..cases - cases / 20).contains(&loaded),
        "{loaded} of {cases} mutated manifests loaded: the mutations no longer exercise both paths"
    );
    assert!(
        found.is_empty(),
        "the reader panicked; keep each input in tests/manifests/regressions/ once fixed:\n{}",
        found.join("\n")
    );
}
