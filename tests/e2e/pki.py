"""A throwaway PKI for the TLS tests, made at test time with the openssl CLI: a CA, a server
certificate for 127.0.0.1/localhost (usable as a client certificate too, as a pod's is), client
certificates by CN, and a second, untrusted CA."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def openssl(*args) -> None:
    proc = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, f"openssl {' '.join(map(str, args))}: {proc.stderr}"


@dataclass
class Cert:
    cert: Path
    key: Path

    @property
    def pair(self) -> tuple[str, str]:
        return str(self.cert), str(self.key)


class Pki:
    def __init__(self, root: Path, name: str = "test-ca"):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.ca = Cert(root / f"{name}.crt", root / f"{name}.key")
        self._serial = 1
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", self.ca.key, "-out", self.ca.cert, "-days", "2", "-subj", f"/CN={name}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, cn: str, sans: str = "", usage: str = "serverAuth,clientAuth",
              out: str | None = None) -> Cert:
        """Issues a certificate for `cn` (sans like "DNS:localhost,IP:127.0.0.1")."""
        stem = self.root / (out or cn)
        csr, ext = stem.with_suffix(".csr"), stem.with_suffix(".ext")
        cert = Cert(stem.with_suffix(".crt"), stem.with_suffix(".key"))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", cert.key, "-out", csr, "-subj", f"/CN={cn}")
        lines = [f"extendedKeyUsage={usage}", "basicConstraints=CA:FALSE"]
        if sans:
            lines.append(f"subjectAltName={sans}")
        ext.write_text("\n".join(lines) + "\n")
        self._serial += 1
        openssl("x509", "-req", "-in", csr, "-CA", self.ca.cert, "-CAkey", self.ca.key,
                "-set_serial", str(self._serial), "-out", cert.cert, "-days", "2", "-extfile", ext)
        return cert

    def server(self, out: str = "server") -> Cert:
        return self.issue("localhost", "DNS:localhost,IP:127.0.0.1", out=out)
