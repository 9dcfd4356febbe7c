//! Deterministic Lambda zips: the same `bootstrap` gives byte-identical bytes
//! (fixed timestamp, fixed mode, one entry), so the zip's sha256 is a content
//! hash deploy can compare to skip unchanged code.

use std::io::{Cursor, Write};
use std::path::Path;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// The lowercase hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A zip holding exactly one executable file named `bootstrap`.
pub fn bootstrap_zip(binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(DateTime::default())
        .unix_permissions(0o755);
    let mut zip = ZipWriter::new(Cursor::new(Vec::with_capacity(binary.len() / 2)));
    zip.start_file("bootstrap", options)?;
    zip.write_all(binary)?;
    Ok(zip.finish()?.into_inner())
}

/// Writes a file whole or not at all: a crash mid-write never leaves a torn artifact.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("moving {} into place", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_binary_gives_the_same_zip() {
        let a = bootstrap_zip(b"\x7fELF pretend binary").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = bootstrap_zip(b"\x7fELF pretend binary").unwrap();
        assert_eq!(sha256_hex(&a), sha256_hex(&b));
        assert_ne!(
            sha256_hex(&a),
            sha256_hex(&bootstrap_zip(b"other").unwrap())
        );
    }

    #[test]
    fn the_zip_holds_one_executable_bootstrap() {
        let bytes = bootstrap_zip(b"binary").unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 1);
        let entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name(), "bootstrap");
        assert_eq!(entry.unix_mode().unwrap() & 0o777, 0o755);
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
