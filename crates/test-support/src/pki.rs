//! A throwaway PKI for TLS tests: a CA, a server certificate for
//! `localhost` / `127.0.0.1`, a client certificate from the same CA, and a
//! "rogue" self-signed client certificate no server should trust.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// PEM files written by [`Pki::generate`].
pub struct Pki {
    /// CA certificate.
    pub ca: PathBuf,
    /// Server certificate (signed by the CA) and its key.
    pub server_cert: PathBuf,
    /// Server key.
    pub server_key: PathBuf,
    /// Client certificate signed by the CA.
    pub client_cert: PathBuf,
    /// Client key.
    pub client_key: PathBuf,
    /// Self-signed client certificate (not from the CA).
    pub rogue_cert: PathBuf,
    /// Its key.
    pub rogue_key: PathBuf,
}

impl Pki {
    /// Generates the PKI into `dir`.
    pub fn generate(dir: &Path) -> Result<Self, Box<dyn std::error::Error>> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "coyote test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let write = |name: &str, text: String| -> std::io::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            Ok(path)
        };
        let leaf = |names: Vec<String>| -> Result<(String, String), rcgen::Error> {
            let key = KeyPair::generate()?;
            let cert = CertificateParams::new(names)?.signed_by(&key, &ca)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()])?;
        let (client_cert, client_key) = leaf(vec!["client.test".into()])?;
        let rogue_key = KeyPair::generate()?;
        let rogue =
            CertificateParams::new(vec!["rogue.test".to_owned()])?.self_signed(&rogue_key)?;
        Ok(Self {
            ca: write("ca.pem", ca.pem())?,
            server_cert: write("server.pem", server_cert)?,
            server_key: write("server.key", server_key)?,
            client_cert: write("client.pem", client_cert)?,
            client_key: write("client.key", client_key)?,
            rogue_cert: write("rogue.pem", rogue.pem())?,
            rogue_key: write("rogue.key", rogue_key.serialize_pem())?,
        })
    }
}
