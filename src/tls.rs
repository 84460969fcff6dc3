//! TLS with rustls (ring provider, no OpenSSL): the main port's certificate
//! chain and private key loaded into an acceptor, and the client side that
//! `https://` webhooks use. Files are read once, at start; a problem is a
//! [`TlsError`] naming the file.
//!
//! Keys may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM. An encrypted PKCS#8 key
//! (`ENCRYPTED PRIVATE KEY`, PBES2 with PBKDF2 or scrypt and AES-CBC, as
//! `openssl pkcs8 -topk8` writes) is decrypted with the passphrase; OpenSSL's
//! legacy `Proc-Type: 4,ENCRYPTED` keys are refused with the command that
//! converts them.

use crate::config;
use pkcs8::EncryptedPrivateKeyInfo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why TLS could not be set up; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {error}")]
    Read {
        what: &'static str,
        path: String,
        error: std::io::Error,
    },
    #[error("{what} {path}: {message}")]
    Pem {
        what: &'static str,
        path: String,
        message: String,
    },
    #[error("TLS key {path} is encrypted: give its passphrase (SOKETI_SSL_PASS, tls_passphrase)")]
    NeedsPassphrase { path: String },
    #[error("TLS key {path}: cannot decrypt it: wrong passphrase, or a scheme other than PBES2 (PBKDF2 or scrypt with AES-CBC)")]
    Decrypt { path: String },
    #[error("TLS key {path} uses OpenSSL's legacy encryption, which is not supported; convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in {path} -out key.pem`")]
    LegacyEncrypted { path: String },
    #[error("TLS key {key} does not belong to the certificate {cert}")]
    Mismatch { cert: String, key: String },
    #[error("TLS certificate {cert} with key {key}: {error}")]
    Rejected {
        cert: String,
        key: String,
        error: rustls::Error,
    },
}

/// The acceptor for the main port: the certificate chain and key of `files`,
/// offering HTTP/1.1 over ALPN.
pub fn acceptor(files: &config::Tls) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates("TLS certificate", &files.cert)?;
    let key = private_key(&files.key, files.passphrase.as_deref())?;
    let rejected = |error| TlsError::Rejected {
        cert: files.cert.clone(),
        key: files.key.clone(),
        error,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::Mismatch {
                    cert: files.cert.clone(),
                    key: files.key.clone(),
                }
            }
            e => rejected(e),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The client for `https://` webhooks: Mozilla's roots (built in, no system
/// files), plus the certificates of `extra_ca` when given.
pub fn connector(extra_ca: Option<&str>) -> Result<TlsConnector, TlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra_ca {
        for cert in certificates("webhook CA file", path)? {
            roots.add(cert).map_err(|e| TlsError::Pem {
                what: "webhook CA file",
                path: path.to_string(),
                message: e.to_string(),
            })?;
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(what: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        what,
        path: path.to_string(),
        error,
    })
}

/// Every `CERTIFICATE` section of a PEM file; at least one.
fn certificates(what: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let invalid = |message: String| TlsError::Pem {
        what,
        path: path.to_string(),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("no PEM CERTIFICATE found".into()));
    }
    Ok(certs)
}

/// The first private key of a PEM file, decrypted when it is encrypted.
fn private_key(path: &str, passphrase: Option<&str>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read("TLS key", path)?;
    let text = String::from_utf8_lossy(&pem);
    if let Some(block) = pem_block(&text, "ENCRYPTED PRIVATE KEY") {
        let passphrase = passphrase.ok_or_else(|| TlsError::NeedsPassphrase {
            path: path.to_string(),
        })?;
        return decrypt(path, block, passphrase);
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(TlsError::LegacyEncrypted {
            path: path.to_string(),
        });
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        what: "TLS key",
        path: path.to_string(),
        message: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no PEM PRIVATE KEY found".into(),
            e => format!("not valid PEM: {e}"),
        },
    })
}

/// The text from `-----BEGIN {label}-----` to its END line, inclusive.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = start + text[start..].find(&end)? + end.len();
    Some(&text[start..stop])
}

/// An `ENCRYPTED PRIVATE KEY` block decrypted into a PKCS#8 key.
fn decrypt(path: &str, block: &str, passphrase: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let invalid = |e: String| TlsError::Pem {
        what: "TLS key",
        path: path.to_string(),
        message: format!("not a valid ENCRYPTED PRIVATE KEY: {e}"),
    };
    let (_, der) =
        pkcs8::der::pem::decode_vec(block.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    let info =
        EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|e| invalid(e.to_string()))?;
    let document = info.decrypt(passphrase).map_err(|_| TlsError::Decrypt {
        path: path.to_string(),
    })?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        document.as_bytes().to_vec(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::der::Decode;

    struct Files {
        dir: std::path::PathBuf,
    }

    impl Files {
        fn new(name: &str) -> Files {
            let dir =
                std::env::temp_dir().join(format!("herald-tls-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Files { dir }
        }

        fn write(&self, name: &str, text: &str) -> String {
            let path = self.dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn tls(cert: &str, key: &str, passphrase: Option<&str>) -> config::Tls {
        config::Tls {
            cert: cert.into(),
            key: key.into(),
            passphrase: passphrase.map(str::to_string),
        }
    }

    fn refused(files: &config::Tls) -> TlsError {
        acceptor(files).err().expect("the files are refused")
    }

    fn self_signed() -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap()
    }

    #[test]
    fn a_cert_and_its_key_load_and_mistakes_are_named() {
        let files = Files::new("plain");
        let ck = self_signed();
        let cert = files.write("cert.pem", &ck.cert.pem());
        let key = files.write("key.pem", &ck.signing_key.serialize_pem());
        assert!(acceptor(&tls(&cert, &key, None)).is_ok());
        assert!(connector(Some(&cert)).is_ok());

        let missing = refused(&tls("/nonexistent/c.pem", &key, None));
        assert!(
            missing
                .to_string()
                .starts_with("cannot read TLS certificate /nonexistent/c.pem"),
            "{missing}"
        );
        let no_key = refused(&tls(&cert, &cert, None));
        assert!(
            no_key.to_string().contains("no PEM PRIVATE KEY"),
            "{no_key}"
        );
        let no_cert = refused(&tls(&key, &key, None));
        assert!(
            no_cert.to_string().contains("no PEM CERTIFICATE"),
            "{no_cert}"
        );
        let other = files.write("other.pem", &self_signed().signing_key.serialize_pem());
        let mismatch = refused(&tls(&cert, &other, None));
        assert!(matches!(mismatch, TlsError::Mismatch { .. }), "{mismatch}");
    }

    #[test]
    fn encrypted_pkcs8_keys_need_the_right_passphrase() {
        let files = Files::new("encrypted");
        let ck = self_signed();
        let cert = files.write("cert.pem", &ck.cert.pem());
        let plain = ck.signing_key.serialize_der();
        let info = pkcs8::PrivateKeyInfo::from_der(&plain).unwrap();
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7; 16])
                .unwrap();
        let encrypted = info.encrypt_with_params(params, "s3cret").unwrap();
        let pem = encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .unwrap();
        let key = files.write("key.pem", &pem);

        assert!(acceptor(&tls(&cert, &key, Some("s3cret"))).is_ok());
        let wrong = refused(&tls(&cert, &key, Some("nope")));
        assert!(matches!(wrong, TlsError::Decrypt { .. }), "{wrong}");
        let none = refused(&tls(&cert, &key, None));
        assert!(none.to_string().contains("SOKETI_SSL_PASS"), "{none}");
    }

    #[test]
    fn legacy_encrypted_keys_are_refused_with_the_fix() {
        let files = Files::new("legacy");
        let ck = self_signed();
        let cert = files.write("cert.pem", &ck.cert.pem());
        let key = files.write(
            "key.pem",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        );
        let err = refused(&tls(&cert, &key, Some("pw")));
        assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
    }
}
