"""Test material for C2PA files: a test CA and signing certificate, tiny JPEG/PNG proxies, and
the demo production recorded with those proxies' hashes (so its versions can be signed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.ledger.audit.audit_factory import Item, demo_items

# An 8x8 grey baseline JPEG (331 bytes); COM segments make each proxy distinct.
_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e12111013182"
    "81a181616183123251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d717970"
    "64785c656763ffc0000b080008000801011100ffc4001f00000105010101010101000000000000000001"
    "02030405060708090a0bffc400b5100002010303020403050504040000017d0102030004110512213141"
    "0613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a343536"
    "3738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788"
    "898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5"
    "d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f002bffd9"
)
_APP0_END = 20  # SOI (2) + APP0 JFIF segment (18)


def tiny_jpeg(tag: str) -> bytes:
    """A valid JPEG whose comment segment holds ``tag``."""
    text = tag.encode()[:60000]
    segment = b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text
    return _JPEG[:_APP0_END] + segment + _JPEG[_APP0_END:]


def tiny_png(tag: str) -> bytes:
    """A valid 2x2 grey PNG whose tEXt chunk holds ``tag``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)  # 2x2, 8-bit greyscale
    pixels = zlib.compress(b"\x00\x80\x80" * 2)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Comment\x00" + tag.encode())
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def tiny_tiff(tag: str) -> bytes:
    """A valid 1x1 greyscale baseline TIFF whose ImageDescription holds ``tag``."""
    text = tag.encode() + b"\0"
    entries = [  # (tag, type 3 SHORT / 4 LONG / 2 ASCII, count, value)
        (256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (270, 2, len(text), 0), (273, 4, 1, 0), (277, 3, 1, 1), (278, 3, 1, 1), (279, 4, 1, 1),
    ]  # fmt: skip
    text_at = 8 + 2 + 12 * len(entries) + 4
    pixel_at = text_at + len(text)
    out = b"II*\0" + struct.pack("<IH", 8, len(entries))
    for tag_id, kind, count, value in entries:
        value = {270: text_at, 273: pixel_at}.get(tag_id, value)
        out += struct.pack("<HHI", tag_id, kind, count)
        out += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    return out + struct.pack("<I", 0) + text + b"\x80"


# --- certificates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    chain: Path  # signing certificate, then the CA
    key: Path
    ca_pem: str  # the trust anchor


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )


def _usage(*, sign: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_credentials(folder: Path, organisation: str = "Test Studio") -> Credentials:
    """A test CA and a C2PA signing certificate it issued (the profile c2pa-rs checks: v3,
    ECDSA P-256, not a CA, digitalSignature key usage, an allowed EKU, AKI, not self-signed)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{organisation} Test Root CA", organisation)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign=False, cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{organisation} C2PA signer", organisation))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True, cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    chain = folder / "chain.pem"
    chain.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_path = folder / "signer.key"
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Credentials(chain, key_path, ca.public_bytes(pem).decode())


# --- the demo production with proxy files ----------------------------------------------------


def proxy_bytes(key: str) -> bytes:
    """The proxy of an asset version: a JPEG, or a PNG for versions whose id ends in 'roto'."""
    return tiny_png(key) if key.split("@")[0].endswith("roto") else tiny_jpeg(key)


def proxy_items() -> tuple[list[Item], dict[str, bytes]]:
    """The demo production, each recorded hash replaced by its version's proxy's hash.

    A hash the demo records for no version (the deliberate roto mismatch) stays unmatched.
    """
    items = demo_items()
    proxies: dict[str, bytes] = {}
    by_old: dict[str, str] = {}
    for _, _, event in items:
        asset = event.get("asset")
        if asset:
            key = f"{asset['asset_id']}@{asset['version']}"
            proxies[key] = proxy_bytes(key)
            by_old[asset["content_sha256"]] = hashlib.sha256(proxies[key]).hexdigest()
    out: list[Item] = []
    for signer, kind, event in items:
        event = _rehashed(event, by_old)
        out.append((signer, kind, event))
    return out, proxies


def _rehashed(event: dict[str, Any], by_old: dict[str, str]) -> dict[str, Any]:
    event = dict(event)
    if "asset" in event:
        asset = dict(event["asset"])
        asset["content_sha256"] = by_old[asset["content_sha256"]]
        asset["media_type"] = "image/png" if asset["asset_id"].endswith("roto") else "image/jpeg"
        event["asset"] = asset
    if "ingredients" in event:
        event["ingredients"] = [
            {**i, "content_sha256": by_old.get(i["content_sha256"], i["content_sha256"])}
            for i in event["ingredients"]
        ]
    return event


def write_proxies(folder: Path, proxies: dict[str, bytes], keys: Iterable[str]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for key in keys:
        suffix = ".png" if proxies[key][:4] == b"\x89PNG" else ".jpg"
        path = folder / (key.replace("/", "_").replace("@", "-") + suffix)
        path.write_bytes(proxies[key])
        out[key] = path
    return out


def make_self_signed(folder: Path) -> Credentials:
    """A signing certificate that signs itself: C2PA refuses it (no CA, no AKI)."""
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Self-signed signer", "Nobody")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(_usage(sign=True, cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    chain = folder / "self.pem"
    chain.write_bytes(cert.public_bytes(pem))
    key_path = folder / "self.key"
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Credentials(chain, key_path, cert.public_bytes(pem).decode())


# --- signing files with the C2PA library itself (no ledger check) ---------------------------

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def signer_info(creds: Credentials) -> Any:
    """c2pa-python's signer settings for ``creds`` (ES256, no time-stamp authority)."""
    import c2pa as c2pa_lib

    return c2pa_lib.C2paSignerInfo(
        alg=c2pa_lib.C2paSigningAlg.ES256,
        sign_cert=creds.chain.read_bytes(),
        private_key=creds.key.read_bytes(),
        ta_url=None,
    )


def builder_context() -> Any:
    """A c2pa-python builder context that makes no thumbnails (tiny test images)."""
    import c2pa as c2pa_lib

    return c2pa_lib.Context(
        c2pa_lib.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    )


def _sign(
    definition: dict[str, Any],
    creds: Credentials,
    source_tag: str,
    out: Path,
    ingredients: Iterable[tuple[dict[str, Any], Path]] = (),
) -> Path:
    """Sign ``definition`` onto a tiny JPEG (tagged ``source_tag``) as ``out``, with the
    ingredient files given (each with its ingredient JSON)."""
    import c2pa as c2pa_lib

    source = out.with_suffix(".src.jpg")
    source.write_bytes(tiny_jpeg(source_tag))
    with (
        c2pa_lib.Signer.from_info(signer_info(creds)) as signer,
        c2pa_lib.Builder(definition, builder_context()) as builder,
    ):
        for ingredient_json, path in ingredients:
            with path.open("rb") as ingredient:
                builder.add_ingredient(ingredient_json, "image/jpeg", ingredient)
        with source.open("rb") as src, out.open("w+b") as dst:
            builder.sign(signer, "image/jpeg", src, dst)
    return out


def sign_definition(definition: dict[str, Any], creds: Credentials, out: Path) -> None:
    """Sign a manifest definition onto a tiny JPEG with the library itself (no ledger check)."""
    _sign(definition, creds, definition["title"], out)


def camera_capture(title: str = "plate_b.jpg", generator: str = "Onset Camera") -> dict[str, Any]:
    """The manifest definition of a plate an on-set camera captured."""
    created = {"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"}
    return {
        "claim_generator_info": [{"name": generator, "version": "1"}],
        "title": title,
        "format": "image/jpeg",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [created]}}],
    }


def tamper(path: Path) -> None:
    """Flip a byte inside the entropy-coded image data, which the hard binding covers."""
    data = bytearray(path.read_bytes())
    data[-4] ^= 0xFF
    path.write_bytes(bytes(data))


def camera_plate(out: Path, creds: Credentials, *, tampered: bool = False) -> Path:
    """A plate signed by an on-set camera; tampered after signing when asked."""
    sign_definition(camera_capture(out.name), creds, out)
    if tampered:
        tamper(out)
    return out


def vendor_smoke(
    plate: Path, vendor: Credentials, out: Path, *, ingredient_title: str = "plate_b.jpg"
) -> Path:
    """A vendor's delivery made with c2pa-python: an AI smoke element made from the signed
    plate (a C2PA ingredient), under the vendor's own claim generator and certificate."""
    definition = {
        "claim_generator_info": [{"name": "Brightline VFX Pipeline", "version": "7.2"}],
        "title": "sh020_smoke_v003.jpg",
        "format": "image/jpeg",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "when": "2025-03-04T10:30:00Z",
                            "digitalSourceType": IPTC + "trainedAlgorithmicMedia",
                            "softwareAgent": {"name": "SmokeSynth", "version": "5.0"},
                            "description": "Smoke plume matched to plate B",
                            "parameters": {"ingredientIds": ["plate-b"]},
                        }
                    ]
                },
            }
        ],
    }
    ingredient = {"title": ingredient_title, "relationship": "inputTo", "label": "plate-b"}
    return _sign(definition, vendor, "brightline smoke v003", out, [(ingredient, plate)])
