"""What every proxy shares: one ECDSA P-256 certificate and the three bodies
the backend serves."""

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

# URL path -> body size. The bodies are pseudo-random bytes, so that a proxy
# that mangled, truncated or compressed one would be caught by the byte check.
BODIES = {
    "/100b": 100,
    "/64k": 64 * 1024,
    "/1m": 1024 * 1024,
}

# Fixed seed: the same bytes on every run and machine.
BODY_SEED = 7

# The certificate is made fresh for each run and only has to outlive it.
CERT_DAYS = 2


@dataclass
class Fixtures:
    """Paths of the shared certificate, key and served files."""

    cert: Path
    key: Path
    cert_and_key: Path
    www: Path

    def body(self, path):
        return (self.www / path.lstrip("/")).read_bytes()


def _make_certificate(directory):
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", str(CERT_DAYS),
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    # HAProxy wants the certificate and its key in one file.
    both = directory / "cert_and_key.pem"
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    return cert, key, both


def make_fixtures(workdir):
    """Creates the certificate and the bodies under workdir."""
    directory = Path(workdir) / "fixtures"
    www = directory / "www"
    www.mkdir(parents=True)
    generator = random.Random(BODY_SEED)
    for path, size in BODIES.items():
        (www / path.lstrip("/")).write_bytes(generator.randbytes(size))
    cert, key, both = _make_certificate(directory)
    return Fixtures(cert, key, both, www)
