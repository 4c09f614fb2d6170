//! The TLS side of wss:// (rustls, with the ring provider): which certificates are trusted, and
//! what a session agreed on, as an event.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::event::{TlsInfo, TlsTrust};

/// What the client trusts a server's certificate by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// The system's roots; Mozilla's (webpki-roots) when the system has none.
    #[default]
    System,
    /// Only the certificates in this PEM file (a local or private CA, a self-signed server).
    CaFile(PathBuf),
    /// Nothing: any certificate is taken (`--insecure`, for local experiments only).
    Insecure,
}

impl Trust {
    /// As recorded in the capture.
    pub fn as_event(&self) -> TlsTrust {
        match self {
            Self::System => TlsTrust::SystemRoots,
            Self::CaFile(p) => TlsTrust::CaFile(p.display().to_string()),
            Self::Insecure => TlsTrust::Insecure,
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration for `trust`, or why it cannot be made (a CA file that does not
/// load, or holds no certificate).
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match trust {
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                webpki: None,
                pinned: Vec::new(),
                provider: provider(),
            }))
            .with_no_client_auth(),
        Trust::System => builder
            .with_root_certificates(system_roots())
            .with_no_client_auth(),
        Trust::CaFile(path) => {
            let (roots, pinned) = roots_from(path)?;
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier {
                    webpki: Some(webpki),
                    pinned,
                    provider: provider(),
                }))
                .with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// The operating system's roots, or Mozilla's when it has none (a minimal container).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    // Certificates the system has that rustls cannot use are skipped, as browsers do.
    let (_added, _skipped) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// The certificates of a PEM file, as roots, and the certificates themselves.
fn roots_from(path: &Path) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), String> {
    let named = |e: &dyn std::fmt::Display| format!("--ca-file {}: {e}", path.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| named(&e))?
        .collect::<Result<_, _>>()
        .map_err(|e| named(&e))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
    if added == 0 {
        return Err(named(
            &"no certificate in it (a PEM file with CERTIFICATE blocks is needed)",
        ));
    }
    Ok((roots, certs))
}

/// How a server's certificate is checked when not by the roots alone. With `webpki` (a CA
/// file): a certificate that chains to the file's certificates, as usual, or the very
/// certificate in the file (`openssl req -x509` makes a self-signed certificate marked as a CA,
/// which the usual check refuses as a server's own, CaUsedAsEndEntity; a user who names that
/// exact certificate has pinned it, as SSH pins a host key). Without (`--insecure`): any
/// certificate. Either way the handshake must be signed by the certificate's key: the session
/// is encrypted, even when it is not authenticated.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    pinned: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(_)
                if self
                    .pinned
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What a finished handshake agreed on.
pub fn session_info(conn: &rustls::ClientConnection, server_name: &str, trust: &Trust) -> TlsInfo {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "?".to_string(),
    };
    let cipher_suite = conn.negotiated_cipher_suite().map_or_else(
        || "?".to_string(),
        |s| {
            s.suite()
                .as_str()
                .map_or_else(|| format!("{:?}", s.suite()), str::to_string)
        },
    );
    TlsInfo {
        server_name: server_name.to_string(),
        version,
        cipher_suite,
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        certificates: conn
            .peer_certificates()
            .map_or(0, |c| u32::try_from(c.len()).unwrap_or(u32::MAX)),
        trust: trust.as_event(),
    }
}

/// The name rustls checks the certificate against: a DNS name, or an IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|e| format!("{host}: {e}"))
}
