"""HTTPS for the emulator: a throwaway self-signed certificate for 127.0.0.1 and localhost.

Some clients (the Azure SDK among them) refuse to send a bearer token over plain http. Clients
trust the certificate file itself as their CA (``verify=``, ``SSL_CERT_FILE``,
``REQUESTS_CA_BUNDLE``). The key is an elliptic-curve P-256 key: generated in a millisecond,
unlike RSA.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

CERT_FILE = "emulator-cert.pem"
KEY_FILE = "emulator-key.pem"


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """Where a certificate and its private key were written (both PEM)."""

    cert_file: Path
    key_file: Path


def self_signed_certificate(
    directory: Path, *, common_name: str = "adf-emulator", days: int = 7
) -> CertificateFiles:
    """Write a self-signed certificate for 127.0.0.1 and localhost, and its key, to directory.

    It is its own CA (``BasicConstraints(ca=True)``); the key file is readable by its owner only.
    """
    # cryptography comes with Airflow; imported here so plain-http use never loads it.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = CertificateFiles(directory / CERT_FILE, directory / KEY_FILE)
    files.cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key_file.touch(mode=0o600)
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def server_context(files: CertificateFiles) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or newer) serving the certificate in ``files``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_file, files.key_file)
    return context
