//! TLS for the tests that speak it (rustls with the `ring` provider): a
//! fresh self-signed certificate per call.

use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig, ServerConnection, StreamOwned};

/// A certificate and the two ends that use it.
pub struct SelfSigned {
    /// A server that presents the certificate.
    pub server: Arc<ServerConfig>,
    /// A client that trusts only that certificate.
    pub client: Arc<ClientConfig>,
    /// The certificate (DER), e.g. for a client outside the process.
    pub cert: CertificateDer<'static>,
}

/// A new self-signed certificate for `name` (a DNS name or an IP address).
pub fn self_signed(name: &str) -> SelfSigned {
    let made = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("certificate");
    let cert: CertificateDer<'static> = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let server = ServerConfig::builder().with_no_client_auth().with_single_cert(vec![cert.clone()], key).expect("key");
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).expect("root");
    let client = ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    SelfSigned { server: Arc::new(server), client: Arc::new(client), cert }
}

/// The server's end of a TLS session over a green socket, as the tests'
/// `Server::wrap_stream` hooks make it.
pub type ServerTls = StreamOwned<ServerConnection, guv::net::TcpStream>;

/// The server side of a TLS handshake on an accepted green socket (the
/// body of a `wrap_stream` hook): the session once the handshake is done.
pub fn accept(config: &Arc<ServerConfig>, mut tcp: guv::net::TcpStream) -> io::Result<ServerTls> {
    let mut tls = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(tls, tcp))
}

/// A `wrap_stream` hook that does only the handshake ([`accept`]).
pub fn handshake(config: Arc<ServerConfig>) -> impl Fn(guv::net::TcpStream) -> io::Result<ServerTls> + Send + Sync {
    move |tcp| accept(&config, tcp)
}
