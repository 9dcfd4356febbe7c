//! `sls-rs new`: a service rendered from one of the templates embedded in the binary
//! (cli/templates/, handlebars), so an installed sls-rs needs no checkout.
//!
//! A template is a directory of cli/templates/; `about.txt` is its one-line
//! description. Files ending in `.hbs` are rendered (the suffix dropped), the others
//! copied as they are. `_common/` is added to every service, `_ci/` with `--with-ci`;
//! `_partials/NAME.hbs` are partials (`{{> NAME}}`).
//! Everything is rendered, and the manifest validated, before anything is written.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use handlebars::Handlebars;
use include_dir::{include_dir, Dir, DirEntry};
use serde::Serialize;

use crate::build::{runtime_requirement, RUNTIME_CRATE};
use crate::error::UsageError;
use crate::manifest::{self, Architecture, LoadOptions};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

const COMMON: &str = "_common";
const CI: &str = "_ci";
/// Handlebars partials the templates share: `_partials/run.hbs` is `{{> run}}`.
const PARTIALS: &str = "_partials";
const ABOUT: &str = "about.txt";
const RENDERED: &str = ".hbs";

/// runtime/ of the sls-rs source this binary was built from: `cargo install --path`
/// and `--git` leave it on disk, and while sls-rs-runtime is not on crates.io a new
/// service takes it from there.
const RUNTIME_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime");

/// One template: its name and what it makes.
#[derive(Debug, Clone, Serialize)]
pub struct Template {
    pub name: &'static str,
    pub about: &'static str,
}

/// Every template, by name.
pub fn templates() -> Vec<Template> {
    let mut all: Vec<Template> = TEMPLATES
        .dirs()
        .filter_map(|d| {
            let name = d.path().to_str()?;
            if name.starts_with('_') {
                return None;
            }
            let about = d
                .get_file(d.path().join(ABOUT))
                .and_then(|f| f.contents_utf8())
                .map_or("", str::trim);
            Some(Template { name, about })
        })
        .collect();
    all.sort_by_key(|t| t.name);
    all
}

/// What a service is rendered with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The service name (`service:`, the cargo package).
    pub service: String,
    pub template: String,
    pub region: String,
    pub architecture: Architecture,
    /// Add the GitHub Actions deploy workflow.
    pub with_ci: bool,
    /// Where `.cargo/config.toml` takes sls-rs-runtime from; `None`: it is not written.
    pub runtime_source: Option<PathBuf>,
}

/// The sls-rs source's runtime/ crate, when it is still where this binary was built from.
pub fn local_runtime_source() -> Option<PathBuf> {
    let dir = Path::new(RUNTIME_SOURCE).canonicalize().ok()?;
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    cargo_toml
        .contains(&format!("name = \"{RUNTIME_CRATE}\""))
        .then_some(dir)
}

/// One file of the new service: its path inside the service directory and contents.
#[derive(Debug, Clone)]
pub struct File {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

#[derive(Serialize)]
struct Data<'a> {
    service: &'a str,
    region: &'a str,
    architecture: &'a str,
    arm64: bool,
    with_ci: bool,
    runtime_crate: &'a str,
    runtime_requirement: String,
    sls_rs_version: &'a str,
}

/// A service name `new` accepts: what validate accepts, lowercase (it names S3
/// buckets and the cargo package). Whether it is short enough for every physical
/// name is for the manifest's validation to say (`check_manifest`).
fn check_service_name(name: &str) -> Result<(), UsageError> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        return Ok(());
    }
    Err(UsageError::new(format!("`{name}` is not a valid service name"))
        .with_help("use lowercase letters, digits and hyphens, starting with a letter (it prefixes every AWS resource name and names the cargo package); or give the name with --name"))
}

/// Renders the service in memory; the manifest it renders is validated.
pub fn render(opts: &Options) -> anyhow::Result<Vec<File>> {
    check_service_name(&opts.service)?;
    let known = templates().iter().any(|t| t.name == opts.template);
    let Some(template) = TEMPLATES.get_dir(&opts.template).filter(|_| known) else {
        let names: Vec<&str> = templates().iter().map(|t| t.name).collect();
        let help = match manifest::did_you_mean(&opts.template, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? (`sls-rs new --list` describes each)"),
            None => format!("the templates: {} (`sls-rs new --list`)", names.join(", ")),
        };
        return Err(
            UsageError::new(format!("there is no template `{}`", opts.template))
                .with_help(help)
                .into(),
        );
    };
    let data = Data {
        service: &opts.service,
        region: &opts.region,
        architecture: match opts.architecture {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        },
        arm64: opts.architecture == Architecture::Arm64,
        with_ci: opts.with_ci,
        runtime_crate: RUNTIME_CRATE,
        runtime_requirement: runtime_requirement(),
        sls_rs_version: env!("CARGO_PKG_VERSION"),
    };
    let mut engine = Handlebars::new();
    engine.set_strict_mode(true);
    engine.register_escape_fn(handlebars::no_escape);
    for partial in TEMPLATES
        .get_dir(PARTIALS)
        .map(files_of)
        .unwrap_or_default()
    {
        let name = partial
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(RENDERED))
            .context("a partial's name ends in .hbs")?;
        let text = partial.contents_utf8().context("a partial is UTF-8")?;
        engine
            .register_partial(name, text)
            .with_context(|| format!("reading partial {}", partial.path().display()))?;
    }

    let mut sources = vec![template];
    sources.extend(TEMPLATES.get_dir(COMMON));
    if opts.with_ci {
        sources.extend(TEMPLATES.get_dir(CI));
    }
    let mut files = Vec::new();
    for source in sources {
        for file in files_of(source) {
            let inside = file
                .path()
                .strip_prefix(source.path())
                .expect("a file of a template lies inside it");
            if inside == Path::new(ABOUT) {
                continue;
            }
            let name = inside.to_string_lossy();
            let (path, contents) = match name.strip_suffix(RENDERED) {
                Some(stem) => {
                    let text = file.contents_utf8().with_context(|| {
                        format!("template file {} is not UTF-8", file.path().display())
                    })?;
                    let rendered = engine.render_template(text, &data).with_context(|| {
                        format!("rendering template file {}", file.path().display())
                    })?;
                    (PathBuf::from(stem), rendered.into_bytes())
                }
                None => (inside.to_path_buf(), file.contents().to_vec()),
            };
            files.push(File { path, contents });
        }
    }
    if let Some(runtime) = &opts.runtime_source {
        files.push(File {
            path: PathBuf::from(".cargo/config.toml"),
            contents: runtime_patch(runtime).into_bytes(),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    check_manifest(&files, opts)?;
    Ok(files)
}

fn files_of<'a>(dir: &'a Dir<'a>) -> Vec<&'a include_dir::File<'a>> {
    let mut out = Vec::new();
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => out.extend(files_of(d)),
            DirEntry::File(f) => out.push(f),
        }
    }
    out
}

fn runtime_patch(runtime: &Path) -> String {
    format!(
        "# {RUNTIME_CRATE} is not published on crates.io yet: cargo takes it from the sls-rs\n\
         # source `sls-rs new` was built from. Once it is published, delete this file.\n\
         [patch.crates-io]\n\
         {RUNTIME_CRATE} = {{ path = {} }}\n",
        toml_string(&runtime.to_string_lossy())
    )
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The stages a new service is deployed to: `dev` (the default), `local` (the
/// emulator), and with `--with-ci` the workflow's `staging` and `production`.
fn stages(opts: &Options) -> &'static [&'static str] {
    if opts.with_ci {
        &["dev", "local", "staging", "production"]
    } else {
        &["dev", "local"]
    }
}

/// The rendered serverless.yaml must validate at every stage the service will be
/// deployed to (a longer stage makes longer names): a template or a name that makes
/// an invalid service is refused before anything is written.
fn check_manifest(files: &[File], opts: &Options) -> anyhow::Result<()> {
    let file = files
        .iter()
        .find(|f| f.path == Path::new("serverless.yaml"))
        .context("the template has no serverless.yaml")?;
    let text = String::from_utf8_lossy(&file.contents);
    let env = |_: &str| None;
    let path = PathBuf::from(&opts.service).join("serverless.yaml");
    for stage in stages(opts) {
        let load = LoadOptions {
            config: None,
            stage: Some(stage),
            region: None,
            env: &env,
        };
        manifest::load_str(&path, &text, &load).map_err(|e| {
            anyhow::Error::from(e).context(format!(
                "template `{}` rendered for `{}` does not validate at stage {stage}",
                opts.template, opts.service
            ))
        })?;
    }
    Ok(())
}

/// What [`write`] did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// Files of the same name that were there and are now replaced (`--force`).
    pub replaced: Vec<PathBuf>,
}

/// The last named component of `dir` made absolute (`.` is the current directory's
/// name): what the service is called unless `--name` says otherwise.
pub fn dir_name(dir: &Path) -> Option<String> {
    let absolute = std::path::absolute(dir).ok()?;
    let mut names = Vec::new();
    for c in absolute.components() {
        match c {
            std::path::Component::Normal(n) => names.push(n.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => {
                names.pop();
            }
            _ => {}
        }
    }
    names.pop()
}

/// Writes the service into `dir`:
/// - a directory that does not exist gets the whole service at once (written beside
///   it, then renamed into place);
/// - an empty one gets the files written into it; on an error, what was written is
///   removed again;
/// - a non-empty one is refused unless `force`, which replaces files of the same
///   names one by one (each written beside itself, then renamed over it).
pub fn write(dir: &Path, files: &[File], force: bool) -> anyhow::Result<Written> {
    let listed: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    let written = |replaced| Written {
        dir: dir.to_path_buf(),
        files: listed.clone(),
        replaced,
    };
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) if !force => Err(UsageError::new(format!(
            "{} exists and is not empty",
            dir.display()
        ))
        .with_help("choose another directory, or add --force to write the template's files into it (files of the same names are replaced)")
        .into()),
        Ok(true) => {
            let mut replaced = Vec::new();
            for f in files {
                let target = dir.join(&f.path);
                if target.exists() {
                    replaced.push(f.path.clone());
                }
                replace_file(&target, &f.contents)?;
            }
            Ok(written(replaced))
        }
        Ok(false) => {
            let mut created = Vec::new();
            let result = write_tree(dir, files, &mut created);
            if result.is_err() {
                for path in created.iter().rev() {
                    std::fs::remove_file(path)
                        .or_else(|_| std::fs::remove_dir(path))
                        .ok();
                }
            }
            result.map(|()| written(Vec::new()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            stage_and_rename(dir, files)?;
            Ok(written(Vec::new()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(UsageError::new(
            format!("{} exists and is not a directory", dir.display()),
        )
        .into()),
        Err(e) => Err(anyhow::Error::from(e).context(format!("reading {}", dir.display()))),
    }
}

/// Writes `files` under `root`, recording each file and directory it creates.
fn write_tree(root: &Path, files: &[File], created: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for f in files {
        let path = root.join(&f.path);
        let mut missing = Vec::new();
        let mut parent = path.parent();
        while let Some(p) = parent.filter(|p| !p.exists()) {
            missing.push(p.to_path_buf());
            parent = p.parent();
        }
        for p in missing.into_iter().rev() {
            std::fs::create_dir(&p).with_context(|| format!("creating {}", p.display()))?;
            created.push(p);
        }
        std::fs::write(&path, &f.contents)
            .with_context(|| format!("writing {}", path.display()))?;
        created.push(path);
    }
    Ok(())
}

fn stage_and_rename(dir: &Path, files: &[File]) -> anyhow::Result<()> {
    let name = dir_name(dir).with_context(|| format!("{} names no directory", dir.display()))?;
    let parent = match std::path::absolute(dir)?.parent() {
        Some(p) => p.to_path_buf(),
        None => anyhow::bail!("{} has no parent directory", dir.display()),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = parent.join(format!(".{name}.sls-rs-new-{}", std::process::id()));
    let mut created = Vec::new();
    let result = write_tree(&staging, files, &mut created).and_then(|()| {
        std::fs::rename(&staging, dir)
            .with_context(|| format!("moving the new service into {}", dir.display()))
    });
    if result.is_err() {
        std::fs::remove_dir_all(&staging).ok();
    }
    result
}

fn replace_file(target: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let temp = parent.join(format!(
        ".{}.sls-rs-new-{}",
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&temp, contents).with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, target).with_context(|| {
        std::fs::remove_file(&temp).ok();
        format!("writing {}", target.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(template: &str) -> Options {
        Options {
            service: "shop".into(),
            template: template.into(),
            region: "eu-west-1".into(),
            architecture: Architecture::Arm64,
            with_ci: false,
            runtime_source: None,
        }
    }

    #[test]
    fn every_template_has_an_about_line_and_renders_a_valid_service() {
        let all = templates();
        assert!(all.len() >= 5, "{all:?}");
        for t in &all {
            assert!(!t.about.is_empty() && !t.about.contains('\n'), "{}", t.name);
            let files = render(&options(t.name)).unwrap();
            let paths: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
            for expected in ["Cargo.toml", "serverless.yaml", "README.md", ".gitignore"] {
                assert!(
                    paths.contains(&Path::new(expected)),
                    "{}: {paths:?}",
                    t.name
                );
            }
            assert!(!paths.iter().any(|p| p.to_string_lossy().ends_with(".hbs")));
            assert!(!paths.contains(&Path::new(ABOUT)));
            let manifest = String::from_utf8(
                files
                    .iter()
                    .find(|f| f.path == Path::new("serverless.yaml"))
                    .unwrap()
                    .contents
                    .clone(),
            )
            .unwrap();
            assert!(manifest.contains("service: shop\n"), "{manifest}");
            assert!(manifest.contains("region: eu-west-1"), "{manifest}");
            assert!(manifest.contains("architecture: arm64"), "{manifest}");
        }
    }

    #[test]
    fn the_workflow_comes_only_with_ci() {
        let workflow = Path::new(".github/workflows/deploy.yml");
        let plain = render(&options("http-api")).unwrap();
        assert!(!plain.iter().any(|f| f.path == workflow));
        let ci = render(&Options {
            with_ci: true,
            ..options("http-api")
        })
        .unwrap();
        let file = ci.iter().find(|f| f.path == workflow).unwrap();
        let text = String::from_utf8(file.contents.clone()).unwrap();
        // GitHub's own expressions survive rendering; ours are filled in.
        assert!(
            text.contains("role-to-assume: ${{ vars.AWS_ROLE_ARN }}"),
            "{text}"
        );
        assert!(text.contains("AWS_REGION: eu-west-1"), "{text}");
        assert!(!text.replace("${{", "").contains("{{"), "{text}");
    }

    #[test]
    fn names_and_templates_are_checked_before_anything_is_rendered() {
        for bad in ["Shop", "1shop", "shop_api", "shop-", ""] {
            let err = render(&Options {
                service: bad.into(),
                ..options("http-api")
            })
            .unwrap_err();
            assert!(crate::error::is_usage(&err), "{bad}: {err:#}");
        }
        let err = render(&options("http-apii")).unwrap_err();
        assert!(crate::error::is_usage(&err));
        assert!(format!("{err:#}").contains("there is no template `http-apii`"));
        assert!(crate::error::is_usage(
            &render(&options("_common")).unwrap_err()
        ));
    }

    #[test]
    fn the_runtime_patch_is_toml_that_names_the_source() {
        let text = runtime_patch(Path::new("/src/sls \"rs\"/runtime"));
        assert!(text.contains(
            "[patch.crates-io]\nsls-rs-runtime = { path = \"/src/sls \\\"rs\\\"/runtime\" }\n"
        ));
    }

    fn file(path: &str, contents: &str) -> File {
        File {
            path: path.into(),
            contents: contents.as_bytes().to_vec(),
        }
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("sls-rs-new"))
            .collect()
    }

    #[test]
    fn a_non_empty_directory_is_kept_unless_forced() {
        let root = std::env::temp_dir().join(format!("sls-rs-scaffold-{}", std::process::id()));
        std::fs::remove_dir_all(&root).ok();
        let files = vec![file("a.txt", "new"), file("src/b.rs", "fn main() {}")];
        // A new directory, with its parents.
        let fresh = root.join("x/fresh");
        write(&fresh, &files, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(fresh.join("src/b.rs")).unwrap(),
            "fn main() {}"
        );
        // An empty one: written in place, the directory itself kept.
        let empty = root.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let before = inode(&empty);
        write(&empty, &files, false).unwrap();
        assert_eq!(std::fs::read_to_string(empty.join("a.txt")).unwrap(), "new");
        assert_eq!(inode(&empty), before);
        // A non-empty one: refused, untouched; with force, same names replaced.
        let full = root.join("full");
        std::fs::create_dir_all(&full).unwrap();
        std::fs::write(full.join("a.txt"), "mine").unwrap();
        std::fs::write(full.join("keep.txt"), "mine").unwrap();
        let err = write(&full, &files, false).unwrap_err();
        assert!(crate::error::is_usage(&err));
        assert_eq!(std::fs::read_to_string(full.join("a.txt")).unwrap(), "mine");
        assert!(!full.join("src").exists());
        let written = write(&full, &files, true).unwrap();
        assert_eq!(written.replaced, [PathBuf::from("a.txt")]);
        assert_eq!(std::fs::read_to_string(full.join("a.txt")).unwrap(), "new");
        assert_eq!(
            std::fs::read_to_string(full.join("keep.txt")).unwrap(),
            "mine"
        );
        // A file where the directory should be: refused.
        let blocker = root.join("file");
        std::fs::write(&blocker, "x").unwrap();
        assert!(crate::error::is_usage(
            &write(&blocker, &files, false).unwrap_err()
        ));
        for dir in [&root, &root.join("x"), &full] {
            assert_eq!(leftovers(dir), Vec::<String>::new());
        }
        std::fs::remove_dir_all(&root).ok();
    }

    /// A write that fails halfway (`a` is a file, so `a/b` cannot be created) leaves
    /// no service behind: no new directory, nothing in an empty one, no staging.
    #[test]
    fn a_failed_write_leaves_nothing_half_written() {
        let root =
            std::env::temp_dir().join(format!("sls-rs-scaffold-fail-{}", std::process::id()));
        std::fs::remove_dir_all(&root).ok();
        std::fs::create_dir_all(&root).unwrap();
        let files = vec![file("a", "x"), file("src/c.rs", "c"), file("a/b", "y")];
        let fresh = root.join("fresh");
        assert!(write(&fresh, &files, false).is_err());
        assert!(!fresh.exists());
        let empty = root.join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(write(&empty, &files, false).is_err());
        assert_eq!(
            std::fs::read_dir(&empty).unwrap().count(),
            0,
            "the empty directory stays empty"
        );
        assert_eq!(leftovers(&root), Vec::<String>::new());
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn the_service_is_named_after_the_directory_made_absolute() {
        assert_eq!(dir_name(Path::new("a/my-api")).as_deref(), Some("my-api"));
        assert_eq!(dir_name(Path::new("my-api/")).as_deref(), Some("my-api"));
        assert_eq!(dir_name(Path::new("my-api/..")), dir_name(Path::new(".")));
        let cwd = std::env::current_dir().unwrap();
        let here = cwd.file_name().map(|n| n.to_string_lossy().into_owned());
        assert_eq!(dir_name(Path::new(".")), here);
        assert_eq!(dir_name(Path::new("/")), None);
    }

    #[test]
    fn a_name_too_long_for_the_longest_stage_is_refused() {
        // 40 characters: valid at `dev`, too long for a role at `staging`.
        let long = format!("s{}", "x".repeat(39));
        assert!(render(&Options {
            service: long.clone(),
            ..options("queue-worker")
        })
        .is_ok());
        let err = render(&Options {
            service: long,
            with_ci: true,
            ..options("queue-worker")
        })
        .unwrap_err();
        assert!(crate::error::is_usage(&err), "{err:#}");
        let text = format!("{err:#}");
        assert!(
            text.contains("does not validate at stage staging"),
            "{text}"
        );
        assert!(text.contains("IAM allows 64"), "{text}");
    }

    #[test]
    fn only_listed_templates_render() {
        for name in ["http-api/src", "_partials", "_ci"] {
            let err = render(&options(name)).unwrap_err();
            assert!(crate::error::is_usage(&err), "{name}: {err:#}");
        }
    }
}
