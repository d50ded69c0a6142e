"""Who may take part in a batch on a Dask cluster, and which results count.

Two locks, each against its own threat:

- TLS with certificates of the instructor's own CA (`grade cluster-certs DIR` makes
  them): the scheduler, the workers and the coordinator accept only peers whose
  certificate that CA signed, so a stranger can neither join nor submit work (a Dask
  task is code: whoever reaches an open scheduler runs code as the workers' user).
  `tcp://` is refused unless the instructor passes --insecure.
- The results key (`results.key` in the same folder, copied to each grading worker and
  to the coordinating machine, never to the scheduler's): each task carries a random
  nonce, and its worker returns its outcome as JSON with an HMAC-SHA256, under that key,
  of the nonce, the student's id and those bytes. The coordinator writes a result only
  when the HMAC holds. The key never travels over the network, so a process that did not
  read it from a grading worker's disk (a worker that holds a certificate but was started
  without this folder's key, whatever name it gives itself; on an --insecure cluster a
  stranger's worker that joined) cannot make a result the coordinator accepts, nor pass
  one student's result, or one attempt's, for another. It does not hold against whoever
  can run code on an honest worker: the scheduler, and every peer of an --insecure one.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import GraderError

CA_FILE = "ca.pem"
RESULTS_KEY = "results.key"
ROLES = ("scheduler", "worker", "client")
CERTS_ENVIRONMENT = "SOCKET_GRADER_CLUSTER_CERTS"  # a grading worker's --certs folder
README_SECTION = "README, Grading on several machines"
VALID_DAYS = 365
_MAC_CONTEXT = b"socket-grader cluster result v1\0"


# --- addresses ---------------------------------------------------------------------------

def is_tls(address: str) -> bool:
    return address.startswith("tls://")


def check_address(address: str, insecure: bool) -> None:
    """GraderError for an address without TLS, unless the instructor said --insecure."""
    if is_tls(address) or insecure:
        return
    raise GraderError(
        f"{address} is not encrypted and lets anyone who reaches it in: they run code on "
        "every worker (as its user, with its container engine) and can send back any "
        "grade. Use tls:// with the certificates of `grade cluster-certs DIR` and --certs "
        f"DIR ({README_SECTION}), or pass --insecure on a network only you can reach")


# --- the certificates' folder --------------------------------------------------------------

def certificate(folder: Path, role: str) -> tuple[Path, Path]:
    """(certificate, private key) of `role` in a folder made by `make_certificates`."""
    return folder / f"{role}.pem", folder / f"{role}.key"


def client_security(folder: Path) -> Any:
    """The coordinator's Dask TLS settings (a distributed.Security) from `folder`."""
    from distributed.security import Security

    cert, key = certificate(folder, "client")
    _require(folder, CA_FILE, cert.name, key.name)
    return Security(tls_ca_file=str(folder / CA_FILE), tls_client_cert=str(cert),
                    tls_client_key=str(key), require_encryption=True)


def worker_tls_flags(folder: Path) -> list[str]:
    """`dask worker` flags for TLS with the worker's certificate of `folder`."""
    cert, key = certificate(folder, "worker")
    _require(folder, CA_FILE, cert.name, key.name)
    return ["--tls-ca-file", str(folder / CA_FILE), "--tls-cert", str(cert),
            "--tls-key", str(key)]


def read_results_key(folder: Path) -> bytes:
    _require(folder, RESULTS_KEY)
    key = bytes.fromhex((folder / RESULTS_KEY).read_text().strip())
    if len(key) < 16:
        raise GraderError(f"{folder / RESULTS_KEY}: too short to be a results key")
    return key


def _require(folder: Path, *names: str) -> None:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise GraderError(f"{folder}: {', '.join(missing)} missing (make the folder with "
                          f"`grade cluster-certs DIR`; {README_SECTION})")


def make_certificates(folder: Path, hosts: Sequence[str], days: int = VALID_DAYS
                      ) -> list[Path]:
    """A CA and, signed by it, a certificate for the scheduler, the workers and the
    coordinator (each valid for `hosts`, localhost and 127.0.0.1), plus the results key,
    written into `folder` (new or empty). The CA's private key is not kept: no one can
    sign another certificate, and making a new folder replaces them all."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise GraderError("grade cluster-certs needs the cryptography package: pip install "
                          "'socket-grader[cluster]'") from None

    if folder.exists() and any(folder.iterdir()):
        raise GraderError(f"{folder} is not empty: name a new folder")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "socket-grader cluster CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    written = [_write(folder / CA_FILE, ca.public_bytes(serialization.Encoding.PEM), 0o644)]
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, "localhost", "127.0.0.1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                            f"socket-grader {role}")]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                # Workers both serve (to the scheduler and peers) and connect.
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path, key_path = certificate(folder, role)
        written.append(_write(cert_path, leaf.public_bytes(serialization.Encoding.PEM),
                              0o644))
        written.append(_write(key_path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), 0o600))
    written.append(_write(folder / RESULTS_KEY, (secrets.token_hex(32) + "\n").encode(),
                          0o600))
    return written


def _write(path: Path, data: bytes, mode: int) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
    return path


# --- results ------------------------------------------------------------------------------

def _mac(key: bytes, nonce: str, student: str, payload: bytes) -> str:
    message = b"\0".join([_MAC_CONTEXT, nonce.encode(), student.encode(), payload])
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal(key: bytes | None, nonce: str, student: str, outcome: dict[str, Any]
         ) -> dict[str, Any]:
    """`outcome` as it travels back: its JSON and their HMAC (empty without a key)."""
    payload = json.dumps(outcome, sort_keys=True).encode()
    return {"payload": payload, "mac": _mac(key, nonce, student, payload) if key else ""}


def unseal(key: bytes, nonce: str, student: str, sealed: Any) -> dict[str, Any] | None:
    """The outcome `seal` made with this key for this nonce and student, or None."""
    if not isinstance(sealed, dict):
        return None
    payload, mac = sealed.get("payload"), sealed.get("mac")
    if not isinstance(payload, bytes) or not isinstance(mac, str):
        return None
    if not hmac.compare_digest(_mac(key, nonce, student, payload), mac):
        return None
    outcome = json.loads(payload)
    return outcome if isinstance(outcome, dict) else None


def new_nonce() -> str:
    return secrets.token_hex(16)


# --- `grade cluster-certs` ---------------------------------------------------------------

def run_certs_command(argv: Sequence[str]) -> int:
    """`grade cluster-certs DIR [--host NAME]...`"""
    parser = argparse.ArgumentParser(
        prog="grade cluster-certs",
        description="Make what a secure cluster needs (README, Grading on several "
        "machines): a CA of your own, a certificate and key for the scheduler, the workers "
        "and the coordinator, and the results key that proves a result came from one of "
        "your grading workers. The CA's private key is not kept.")
    parser.add_argument("folder", type=Path, metavar="DIR", help="a new folder")
    parser.add_argument("--host", action="append", default=[], metavar="NAME|IP",
                        help="a name or address the scheduler and the workers are reached "
                        "by (repeat it; default: this machine's name; localhost and "
                        "127.0.0.1 are always in)")
    parser.add_argument("--days", type=int, default=VALID_DAYS,
                        help="how long the certificates hold (default: %(default)s)")
    args = parser.parse_args(argv)
    make_certificates(args.folder, args.host or [socket.gethostname()], args.days)
    folder = args.folder
    print(f"wrote {folder}: {CA_FILE}, scheduler/worker/client .pem and .key, {RESULTS_KEY}\n"
          f"copy to the scheduler's machine: {CA_FILE}, scheduler.pem, scheduler.key\n"
          f"copy to each worker's machine and the coordinating one: the whole folder "
          f"(keep {RESULTS_KEY} off the scheduler's machine)\n\n"
          f"dask scheduler --protocol tls --port 8786 --no-dashboard --tls-ca-file "
          f"{folder}/{CA_FILE} --tls-cert {folder}/scheduler.pem --tls-key "
          f"{folder}/scheduler.key\n"
          f"grade worker --scheduler tls://SCHEDULER:8786 --certs {folder} --pods N\n"
          f"grade batch SUBMISSIONS --out RESULTS --cluster tls://SCHEDULER:8786 --certs "
          f"{folder}")
    return 0
