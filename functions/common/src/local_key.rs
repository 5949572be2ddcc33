//! P-256 private keys for local runs: generated once, kept in a file of the data directory,
//! shared safely by several processes starting at once. Everything that signs locally (the
//! playground, the console sign-in stand-in, the secret-scanning reporter stand-in) uses this,
//! and the replay sealing key is kept the same way.

use p256::SecretKey;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use std::path::Path;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("signing key is not a P-256 PKCS#8 PEM key")]
    Invalid,
    #[error("cannot read or create the local signing key at {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// A fresh P-256 key as PKCS#8 PEM.
pub fn generate_pem() -> String {
    SecretKey::random(&mut rand_core::OsRng)
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PKCS#8 encoding of a valid P-256 key cannot fail")
        .to_string()
}

/// Reads the local development key, creating it on first use.
pub fn load_or_create_local_key(path: &Path) -> Result<Zeroizing<String>, SigningKeyError> {
    load_or_create(path, generate_pem).map_err(|source| SigningKeyError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads a local secret file, creating it with `make` on first use (private to its owner).
///
/// Several function processes may start at once, so the secret is written to a private
/// temporary file and hard-linked into place: linking fails if another process won the race,
/// and then everyone reads the winner's complete file.
pub fn load_or_create(path: &Path, make: impl FnOnce() -> String) -> std::io::Result<Zeroizing<String>> {
    if let Ok(secret) = std::fs::read_to_string(path) {
        return Ok(Zeroizing::new(secret));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".secret-{}.tmp", crate::ids::new_ulid()));
    write_private(&tmp, Zeroizing::new(make()).as_bytes())?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    std::fs::read_to_string(path).map(Zeroizing::new)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
