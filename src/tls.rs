//! TLS set-up shared by every client this worker runs (the coordinator link, `wss://` sources):
//! one process-wide rustls crypto provider, and the certificate policy for ingest servers,
//! which are dialled by IP address (coordinator-protocol §10.1).

use std::path::Path;
use std::sync::Arc;

/// tokio-tungstenite builds its rustls config from the process-wide provider. rustls picks one
/// by itself only when exactly one provider feature is compiled in; once another crate enables a
/// second (reqwest enables aws-lc-rs), the first `wss` dial would panic. Installing one here
/// removes that dependence on the final feature set.
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An error only means another thread installed a provider first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// TLS that accepts only certificates chaining to the authorities in a PEM file
/// (`HLS_SOURCE_TLS_CA_FILE`), instead of the system's roots; the name or IP address dialled
/// must be in the certificate, as always.
pub fn trusting_only(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    ensure_crypto_provider();
    let shown = ca_file.display();
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("cannot read CA file {shown}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("CA file {shown} is not valid PEM: {e}"))?;
        roots.add(cert).map_err(|e| format!("CA file {shown} holds an unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("CA file {shown} holds no certificate"));
    }
    Ok(Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()))
}

/// TLS that encrypts without checking the certificate: ingest servers are dialled by IP
/// address, which no usual certificate names (spec §10.1, `HLS_SOURCE_TLS_VERIFY=NO`).
pub fn accept_any_certificate() -> Arc<rustls::ClientConfig> {
    ensure_crypto_provider();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    // The handshake signatures are still checked: the peer must hold the certificate's key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
