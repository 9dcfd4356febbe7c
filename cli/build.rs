//! `include_dir!` does not tell cargo which files it read: rebuild when a template changes.
fn main() {
    println!("cargo:rerun-if-changed=templates");
}
