//! HTTPS with rustls: certificates from PEM files, ALPN for HTTP/2 and
//! HTTP/1.1, and Go's five client certificate policies
//! (`http.ssl.client_auth_type`), so an `.rr.yaml` with mTLS keeps its
//! meaning.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use tokio_rustls::TlsAcceptor;

/// Go's `tls.ClientAuthType`, as named in `.rr.yaml`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// Asked for; not required; not verified.
    Request,
    /// Required; not verified.
    RequireAny,
    /// Verified against `root_ca` when the client sends one.
    VerifyIfGiven,
    /// Required and verified against `root_ca`.
    RequireAndVerify,
}

/// What the HTTPS listener needs.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    /// Certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA bundle (PEM) that client certificates must chain to.
    pub root_ca: Option<PathBuf>,
    /// Client certificate policy.
    pub client_auth: ClientAuth,
    /// Offer HTTP/2 by ALPN (always on in RoadRunner; off only for tests).
    pub http2: bool,
}

/// Why the HTTPS listener cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the certificate, key or CA.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built (for example an empty CA).
    #[error("tls: client verification: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn file_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the acceptor for `opts`; every problem is reported with the
/// file it comes from, before the listener opens.
pub fn acceptor(opts: &TlsOptions) -> Result<TlsAcceptor, TlsError> {
    let provider = provider();
    let chain = certificates(&opts.cert)?;
    let key = PrivateKeyDer::from_pem_file(&opts.key).map_err(|e| file_error(&opts.key, e))?;
    let verifier: Arc<dyn ClientCertVerifier> = match opts.client_auth {
        ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::Request | ClientAuth::RequireAny => Arc::new(AnyClientCert {
            mandatory: opts.client_auth == ClientAuth::RequireAny,
            algorithms: provider.signature_verification_algorithms,
        }),
        ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify => {
            let Some(ca) = &opts.root_ca else {
                return Err(TlsError::File {
                    path: PathBuf::from("root_ca"),
                    reason: "a CA is required to verify client certificates".into(),
                });
            };
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca)? {
                roots.add(cert).map_err(|e| file_error(ca, e))?;
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if opts.client_auth == ClientAuth::VerifyIfGiven {
                builder.allow_unauthenticated().build()?
            } else {
                builder.build()?
            }
        }
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = if opts.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// `request_client_cert` / `require_any_client_cert`: Go asks for a
/// certificate without checking who issued it; the handshake signature is
/// still checked, so the client must hold the key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use coyote_test_support::pki::Pki;
    use coyote_test_support::TempDir;
    use rustls::pki_types::ServerName;
    use tokio_rustls::TlsConnector;

    fn client(pki: &Pki, identity: Option<(&Path, &Path)>) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(certificates(&pki.ca).unwrap().remove(0)).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    certificates(cert).unwrap(),
                    PrivateKeyDer::from_pem_file(key).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        TlsConnector::from(Arc::new(config))
    }

    /// Whether the server accepts a handshake from `connector`.
    async fn accepted(acceptor: &TlsAcceptor, connector: &TlsConnector) -> bool {
        let (c, s) = tokio::io::duplex(1 << 16);
        let name = ServerName::try_from("localhost").unwrap();
        let server = async {
            use tokio::io::AsyncWriteExt;
            let result = acceptor.accept(s).await;
            if let Ok(mut stream) = result {
                // Let the client's handshake finish too.
                let _ = stream.write_all(b"x").await;
                let _ = stream.flush().await;
                true
            } else {
                false
            }
        };
        let client = connector.connect(name, c);
        let (ok, _) = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            tokio::join!(server, client)
        })
        .await
        .expect("handshake hung");
        ok
    }

    #[tokio::test]
    async fn client_certificate_policies_follow_go() {
        let dir = TempDir::new("coyote-tls").unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        let anonymous = client(&pki, None);
        let trusted = client(&pki, Some((&pki.client_cert, &pki.client_key)));
        let rogue = client(&pki, Some((&pki.rogue_cert, &pki.rogue_key)));
        // (policy, anonymous, trusted, rogue)
        let cases = [
            (ClientAuth::None, true, true, true),
            (ClientAuth::Request, true, true, true),
            (ClientAuth::RequireAny, false, true, true),
            (ClientAuth::VerifyIfGiven, true, true, false),
            (ClientAuth::RequireAndVerify, false, true, false),
        ];
        for (policy, want_anonymous, want_trusted, want_rogue) in cases {
            let acceptor = acceptor(&TlsOptions {
                cert: pki.server_cert.clone(),
                key: pki.server_key.clone(),
                root_ca: Some(pki.ca.clone()),
                client_auth: policy,
                http2: true,
            })
            .unwrap();
            assert_eq!(
                accepted(&acceptor, &anonymous).await,
                want_anonymous,
                "{policy:?}: no certificate"
            );
            assert_eq!(
                accepted(&acceptor, &trusted).await,
                want_trusted,
                "{policy:?}: CA-signed certificate"
            );
            assert_eq!(
                accepted(&acceptor, &rogue).await,
                want_rogue,
                "{policy:?}: self-signed certificate"
            );
        }
    }

    #[test]
    fn bad_files_name_the_file() {
        let dir = TempDir::new("coyote-tls").unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a pem\n").unwrap();
        let opts = |cert: &Path, key: &Path| TlsOptions {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            root_ca: None,
            client_auth: ClientAuth::None,
            http2: true,
        };
        let err = acceptor(&opts(&empty, &pki.server_key))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("empty.pem") && err.contains("no PEM certificate"),
            "{err}"
        );
        let err = acceptor(&opts(&pki.server_cert, &empty))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("empty.pem"), "{err}");
        // A key that does not belong to the certificate.
        let err = acceptor(&opts(&pki.server_cert, &pki.client_key)).err();
        assert!(err.is_some(), "mismatched key accepted");
        let missing = dir.path().join("missing.pem");
        let err = acceptor(&opts(&missing, &pki.server_key))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("missing.pem"), "{err}");
    }
}
