"""Test helpers for HTTPS receivers: a small CA and server certificates signed by it.

rustls (pyreqwest) refuses a self-signed certificate that is its own CA, so a test receiver needs a CA and a
leaf certificate signed by it. Typical use::

    tls = make_tls(tmp_path)                      # CA + cert for 127.0.0.1 / localhost
    server_ctx = tls.server_context()             # ssl.SSLContext for aiohttp.web / uvicorn
    transport = create_transport(allow_private_targets=True, ca_file=str(tls.ca_file))
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(slots=True)
class CertificateAuthority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(slots=True)
class TlsFiles:
    """Paths of the PEM files written by make_tls."""

    ca_file: Path  # the CA certificate: what a client trusts (VERIHOOK_CA_FILE)
    cert_file: Path  # the server certificate (leaf, signed by the CA)
    key_file: Path  # the server's private key

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(common_name: str = "Verihook Test CA") -> CertificateAuthority:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(cert=cert, key=key)


def _subject_alt_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    """IPs as IP SANs, the rest as DNS SANs."""
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    return sans


def make_server_cert(ca: CertificateAuthority, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> tuple[bytes, bytes]:
    """A leaf certificate for `hosts` (IPs become IP SANs, the rest DNS SANs): (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans = _subject_alt_names(hosts)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def make_tls(directory: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> TlsFiles:
    """Write ca.pem, server.pem and server.key into `directory` and return their paths."""
    ca = make_ca()
    cert_pem, key_pem = make_server_cert(ca, hosts)
    files = TlsFiles(
        ca_file=directory / "ca.pem", cert_file=directory / "server.pem", key_file=directory / "server.key"
    )
    files.ca_file.write_bytes(ca.cert_pem)
    files.cert_file.write_bytes(cert_pem)
    files.key_file.write_bytes(key_pem)
    files.key_file.chmod(0o600)
    return files


def make_self_signed(directory: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> TlsFiles:
    """A server certificate for `hosts` signed by its own key, as a careless receiver has: no client trusts it.
    `ca_file` is the certificate itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans = _subject_alt_names(hosts)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(_name(hosts[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(ca_file=directory / "self-signed.pem", cert_file=directory / "self-signed.pem",
                     key_file=directory / "self-signed.key")
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(_key_pem(key))
    files.key_file.chmod(0o600)
    return files
