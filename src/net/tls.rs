//! TLS for HTTPS: turns a PEM certificate chain and a PEM private key into
//! the rustls acceptor that the server wraps each accepted TCP stream in.
//!
//! It owns loading and checking the two files and the TLS settings: TLS 1.2
//! and 1.3 with rustls's safe defaults, the *ring* crypto provider, and ALPN
//! offering `h2` then `http/1.1`, so a client that speaks HTTP/2 picks it
//! during the handshake and hyper-util's auto builder serves either.
//! Keys may be PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
//! (`EC PRIVATE KEY`), unencrypted.
//!
//! It does not:
//! - ask for or verify client certificates;
//! - reload the certificate when the files change: restart to pick up a
//!   renewed one;
//! - staple OCSP responses, or choose among several certificates by SNI;
//! - run the handshake: the server does, and must bound it by time, since
//!   a client that connects and sends nothing would otherwise hold a
//!   connection slot.
//!
//! NOTE: sendfile (`zerocopy`) writes file bytes straight to the socket,
//! past any encryption: the server must never give a TLS connection the
//! zero-copy send queue.
//!
//! NOTE: the provider is passed to each config instead of being installed
//! process-wide, so nothing else has to run first, and rustls is built
//! without aws-lc-rs (a long C build that needs cmake).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use rustls::InconsistentKeys;
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// ALPN protocol names in order of preference (RFC 7301; `h2` from
/// RFC 9113 §3.2): HTTP/2 first, since the auto builder serves both.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Loads the certificate chain at `cert` and the private key at `key` and
/// returns an acceptor for TLS connections that present them.
///
/// # Errors
///
/// One line each, naming the file: a file that cannot be read, a file with
/// no certificate or no private key in it, or a key that does not match the
/// certificate.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    server_config(cert, key).map(TlsAcceptor::from)
}

/// The rustls configuration behind [`acceptor`]: no client authentication,
/// the certificate chain and key from the two files, ALPN `h2` then
/// `http/1.1`.
pub(crate) fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = load_certificates(cert)?;
    let private_key = load_private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("the TLS crypto provider offers no safe protocol version")?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| match e {
            // rustls words this "keys may not be consistent: KeyMismatch".
            rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => anyhow!(
                "the private key in {} does not match the certificate in {}",
                key.display(),
                cert.display()
            ),
            other => anyhow::Error::new(other).context(format!(
                "cannot use the TLS certificate {} with the private key {}",
                cert.display(),
                key.display()
            )),
        })?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Every `CERTIFICATE` block in the file, in order: the server's own
/// certificate first, then the intermediates that lead to a root.
fn load_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| pem_error("certificate", path, e))?;
    if chain.is_empty() {
        return Err(pem_error("certificate", path, pem::Error::NoItemsFound));
    }
    Ok(chain)
}

/// The first private key block in the file; other blocks (a certificate
/// kept in the same file, say) are skipped.
fn load_private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error("private key", path, e))
}

/// One line that names the file and what was wrong with it.
fn pem_error(what: &str, path: &Path, error: pem::Error) -> anyhow::Error {
    let path = path.display();
    match error {
        pem::Error::Io(e) => {
            anyhow::Error::new(e).context(format!("cannot read TLS {what} {path}"))
        }
        pem::Error::NoItemsFound => {
            let expected = if what == "certificate" {
                r#"a PEM "CERTIFICATE" block"#
            } else {
                r#"an unencrypted PEM "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY" block"#
            };
            anyhow!("no TLS {what} found in {path}: expected {expected}")
        }
        other => anyhow::Error::new(other).context(format!("cannot parse TLS {what} {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, RootCertStore};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::TlsConnector;

    /// A self-signed certificate for `localhost` and 127.0.0.1 with its
    /// PKCS#8 key, written as PEM files in a fresh temporary directory.
    struct Fixture {
        dir: tempfile::TempDir,
        cert: PathBuf,
        key: PathBuf,
        der: CertificateDer<'static>,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, der) = write_pair(&dir, "server");
        Fixture {
            dir,
            cert,
            key,
            der,
        }
    }

    fn write_pair(
        dir: &tempfile::TempDir,
        name: &str,
    ) -> (PathBuf, PathBuf, CertificateDer<'static>) {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .unwrap();
        let cert = dir.path().join(format!("{name}.crt"));
        let key = dir.path().join(format!("{name}.key"));
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        (cert, key, generated.cert.der().clone())
    }

    fn error_line(result: anyhow::Result<TlsAcceptor>) -> String {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn acceptor_builds_from_pkcs8_key_and_certificate() {
        let f = fixture();
        assert!(
            std::fs::read_to_string(&f.key)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        acceptor(&f.cert, &f.key).unwrap();
    }

    #[test]
    fn alpn_offers_h2_then_http11() {
        let f = fixture();
        let config = server_config(&f.cert, &f.key).unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn missing_certificate_file_names_the_path_and_the_cause() {
        let f = fixture();
        let missing = f.dir.path().join("missing.crt");
        let line = error_line(acceptor(&missing, &f.key));
        let expected = format!(
            "cannot read TLS certificate {}: No such file or directory",
            missing.display()
        );
        assert!(line.starts_with(&expected), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn missing_key_file_names_the_path() {
        let f = fixture();
        let missing = f.dir.path().join("missing.key");
        let line = error_line(acceptor(&f.cert, &missing));
        let expected = format!("cannot read TLS private key {}: ", missing.display());
        assert!(line.starts_with(&expected), "{line}");
    }

    #[test]
    fn file_without_certificate_is_refused() {
        let f = fixture();
        // The key file holds a PEM block, just not a certificate.
        let line = error_line(acceptor(&f.key, &f.key));
        let expected = format!("no TLS certificate found in {}", f.key.display());
        assert!(line.starts_with(&expected), "{line}");
    }

    #[test]
    fn empty_certificate_file_is_refused() {
        let f = fixture();
        let empty = f.dir.path().join("empty.crt");
        std::fs::write(&empty, "").unwrap();
        let line = error_line(acceptor(&empty, &f.key));
        assert!(line.starts_with("no TLS certificate found in "), "{line}");
    }

    #[test]
    fn file_without_private_key_is_refused() {
        let f = fixture();
        let line = error_line(acceptor(&f.cert, &f.cert));
        let expected = format!("no TLS private key found in {}", f.cert.display());
        assert!(line.starts_with(&expected), "{line}");
    }

    #[test]
    fn key_may_share_a_file_with_the_certificate() {
        let f = fixture();
        let both = f.dir.path().join("both.pem");
        let pem =
            std::fs::read_to_string(&f.cert).unwrap() + &std::fs::read_to_string(&f.key).unwrap();
        std::fs::write(&both, pem).unwrap();
        acceptor(&both, &both).unwrap();
    }

    #[test]
    fn key_of_another_certificate_is_refused() {
        let f = fixture();
        let (_, other_key, _) = write_pair(&f.dir, "other");
        let line = error_line(acceptor(&f.cert, &other_key));
        let expected = format!(
            "the private key in {} does not match the certificate in {}",
            other_key.display(),
            f.cert.display()
        );
        assert_eq!(line, expected);
    }

    #[tokio::test]
    async fn handshake_negotiates_h2_and_carries_bytes() {
        let f = fixture();
        let acceptor = acceptor(&f.cert, &f.key).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut buf = [0; 5];
            tls.read_exact(&mut buf).await.unwrap();
            tls.write_all(&buf).await.unwrap();
            tls.shutdown().await.unwrap();
        });

        let mut roots = RootCertStore::empty();
        roots.add(f.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let connector = TlsConnector::from(Arc::new(client));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

        tls.write_all(b"hello").await.unwrap();
        let mut echoed = Vec::new();
        tls.read_to_end(&mut echoed).await.unwrap();
        assert_eq!(echoed, b"hello");
        server.await.unwrap();
    }
}
