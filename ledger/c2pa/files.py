"""Content Credentials in files, through the C2PA reference implementation (c2pa-python).

:func:`sign_asset` embeds an asset version's manifest (see :mod:`ledger.c2pa.manifest`) into the
deliverable itself, after checking that the file is the one the ledger records.
:func:`read_document` reads a signed file (or the JSON a C2PA Reader printed) into the manifest
store that :func:`ledger.c2pa.importer.import_events` takes.

c2pa-python is the optional extra ``asset-ledger[c2pa]``; it is imported on first use, so the
rest of the ledger works without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ledger.audit.model import LedgerView, Step
from ledger.c2pa import importer as c2pa_import
from ledger.c2pa import manifest as bridge
from ledger.errors import ConfigurationError, VerificationFailure

MAX_JSON_BYTES = 64 * 1024 * 1024
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def _c2pa() -> ModuleType:
    try:
        import c2pa  # type: ignore[import-untyped]
    except ImportError as exc:  # the optional extra is not installed
        raise ConfigurationError(
            "C2PA files need the c2pa-python library, which is not installed",
            hint="pip install 'asset-ledger[c2pa]'",
        ) from exc
    module: ModuleType = c2pa
    return module


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with _open(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _open(path: Path) -> Iterator[Any]:
    try:
        with path.open("rb") as f:
            yield f
    except IsADirectoryError:
        raise ConfigurationError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None


def media_type(path: Path) -> str:
    """The file's media type: by its first bytes for JPEG/PNG/TIFF, else by its extension."""
    with _open(path) as f:
        head = f.read(16)
    for magic, found in _MAGIC:
        if head.startswith(magic):
            return found
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed is None:
        raise ConfigurationError(
            f"cannot tell the media type of {path}",
            hint="give the file its usual extension (.jpg, .png, .tif, .mp4, .mov, .wav, …)",
        )
    return guessed


def _context(c2pa: ModuleType, trust_anchors: str | None = None) -> Any:
    settings: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}}
    if trust_anchors:
        settings["trust"] = {"trust_anchors": trust_anchors}
    return c2pa.Context(c2pa.Settings.from_dict(settings))


# --- signing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignResult:
    output: Path
    manifest_label: str
    validation: c2pa_import.Validation
    ingredient_files: tuple[str, ...]  # ingredient keys whose files (and manifests) were added


def sign_asset(
    view: LedgerView,
    key: str,
    source: Path,
    cert_chain: Path,
    private_key: Path,
    output: Path,
    *,
    ingredient_files: Sequence[Path] = (),
    tsa_url: str | None = None,
    trust_anchors: str | None = None,
) -> SignResult:
    """Embed ``key``'s manifest into a copy of ``source`` at ``output``, then read it back.

    Refuses a file whose SHA-256 is not the content hash the ledger records for ``key``.
    """
    step = _recorded_step(view, key)
    actual = sha256_file(source)
    if actual != step.content_sha256:
        raise VerificationFailure(
            f"{source} is not {key} as the ledger records it: its SHA-256 is {actual}, "
            f"the ledger records {step.content_sha256}",
            hint="sign the exact file whose provenance the ledger holds; nothing was written",
        )
    if output.resolve() == source.resolve():
        raise ConfigurationError("-o must name a new file, not the file being signed")
    c2pa = _c2pa()
    fmt = media_type(source)
    definition = bridge.manifest_definition(view, step, fmt)
    attached = _match_ingredients(step, definition, ingredient_files)
    signer_info = _signer_info(c2pa, cert_chain, private_key, tsa_url)
    context = _context(c2pa, trust_anchors)
    with (
        _library_errors("signing"),
        c2pa.Signer.from_info(signer_info) as signer,
        c2pa.Builder(definition, context) as builder,
    ):
        for path, ingredient in attached:
            with _open(path) as stream:
                builder.add_ingredient(ingredient, media_type(path), stream)
        _write_signed(builder, signer, fmt, source, output)
    store = read_document(output, trust_anchors=trust_anchors).document
    validation = c2pa_import.validation_of(store)
    if validation.state == c2pa_import.STATE_INVALID:
        raise VerificationFailure(
            f"the signed file {output} does not validate: " + ", ".join(validation.codes)
        )
    return SignResult(
        output,
        str(store.get("active_manifest")),
        validation,
        tuple(i["title"] for _, i in attached),
    )


def _recorded_step(view: LedgerView, key: str) -> Step:
    recorded = view.recorded(key)
    if not recorded:
        raise ConfigurationError(
            f"{key} is not recorded in the ledger (at tree size {view.state.size})",
            hint="give ID@VERSION of a recorded asset version; one appended after the latest "
            "signed checkpoint needs --at-head",
        )
    return recorded[-1]


def _match_ingredients(
    step: Step, definition: dict[str, Any], files: Sequence[Path]
) -> list[tuple[Path, dict[str, Any]]]:
    """Pair each ingredient file with the step's ingredient it is, and take that ingredient
    out of the definition (the library adds it from the file, manifest included)."""
    remaining = {str(i["instance_id"]): i for i in definition["ingredients"]}
    hashes = {bridge.instance_id(i.key): i.content_sha256 for i in step.ingredients}
    attached = []
    for path in files:
        digest = sha256_file(path)
        own = _file_instance_id(path)
        match = next(
            (iid for iid in remaining if iid == own or (iid in hashes and hashes[iid] == digest)),
            None,
        )
        if match is None:
            raise ConfigurationError(
                f"ingredient file {path} is none of {step.key}'s ingredients",
                hint="give the files the ledger records as its ingredients (same SHA-256, or "
                "signed with the ingredient's assetledger: instance id)",
            )
        ingredient = remaining.pop(match)
        attached.append(
            (
                path,
                {k: ingredient[k] for k in ("title", "relationship", "instance_id")},
            )
        )
    definition["ingredients"] = [
        {k: v for k, v in i.items() if k != "active_manifest"} for i in remaining.values()
    ]
    return attached


def _active_manifest(path: Path) -> tuple[str, Mapping[str, Any]] | None:
    """(label, manifest) of a media file's active C2PA manifest; None for JSON or no manifest."""
    try:
        read = read_document(path)
    except ConfigurationError:
        return None
    store = read.document
    label = str(store.get("active_manifest") or "")
    active = store.get("manifests", {}).get(label)
    if read.media_type is None or not isinstance(active, Mapping):
        return None
    return label, active


def active_label(path: Path) -> str | None:
    """The label of a media file's active C2PA manifest, or None."""
    found = _active_manifest(path)
    return found[0] if found else None


def _file_instance_id(path: Path) -> str | None:
    """The instance id of a file's active C2PA manifest, or None for a file without one."""
    found = _active_manifest(path)
    value = found[1].get("instance_id") if found else None
    return str(value) if value else None


def _write_signed(builder: Any, signer: Any, fmt: str, source: Path, output: Path) -> None:
    folder = output.parent if str(output.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".c2pa-", dir=folder)
    except OSError as exc:
        raise ConfigurationError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    try:
        with _open(source) as src, os.fdopen(fd, "w+b") as dst:
            builder.sign(signer, fmt, src, dst)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _signer_info(c2pa: ModuleType, chain_path: Path, key_path: Path, tsa_url: str | None) -> Any:
    chain_pem = _read(chain_path)
    key_pem = _read(key_path)
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise ConfigurationError(
            f"{chain_path} holds no PEM certificate chain",
            hint="give the signing certificate first, then its issuing CA(s), in PEM",
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"{key_path} is not an unencrypted PEM private key ({exc})"
        ) from None
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    leaf = (
        chain[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    if public != leaf:
        raise ConfigurationError(
            f"the key in {key_path} does not belong to the first certificate of {chain_path}"
        )
    return c2pa.C2paSignerInfo(
        alg=_algorithm(c2pa, key),
        sign_cert=chain_pem,
        private_key=key_pem,
        ta_url=tsa_url.encode() if tsa_url else None,
    )


def _algorithm(c2pa: ModuleType, key: Any) -> Any:
    algs = c2pa.C2paSigningAlg
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": algs.ES256, "secp384r1": algs.ES384, "secp521r1": algs.ES512}
        if key.curve.name in by_curve:
            return by_curve[key.curve.name]
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        return algs.ED25519
    elif isinstance(key, rsa.RSAPrivateKey):
        return algs.PS256
    raise ConfigurationError(
        "C2PA signs with ECDSA P-256/384/521, Ed25519 or RSA-PSS keys; this key is none of them"
    )


def _read(path: Path, limit: int = 1 << 20) -> bytes:
    with _open(path) as f:
        data: bytes = f.read(limit + 1)
    if len(data) > limit:
        raise ConfigurationError(f"{path} is larger than {limit} bytes")
    return data


@contextmanager
def _library_errors(doing: str) -> Iterator[None]:
    c2pa = _c2pa()
    try:
        yield
    except c2pa.C2paError as exc:
        raise ConfigurationError(f"the C2PA library refused {doing}: {exc}") from None


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """A manifest store (Reader JSON shape) and what the file itself tells about it."""

    document: dict[str, Any]
    media_type: str | None = None  # of a signed file; None for JSON
    bindings: Mapping[str, str] = field(default_factory=dict)  # label -> whole-file SHA-256

    @property
    def checked(self) -> bool:
        """The verdict is the reader's own, on this file (not copied from JSON given)."""
        return self.media_type is not None


def read_document(
    path: Path, *, trust_anchors: str | None = None, sidecar: Path | None = None
) -> Document:
    """A signed file through c2pa's Reader, or a JSON manifest store / definition.

    ``sidecar`` is a separate manifest store (``.c2pa``) for an asset that carries none.
    """
    with _open(path) as f:
        head = f.read(64)
    if head.lstrip()[:1] == b"{" and sidecar is None:
        return Document(_load_json(path))
    c2pa = _c2pa()
    fmt = _reader_format(path)
    manifest_data = _read(sidecar, limit=MAX_JSON_BYTES) if sidecar is not None else None
    try:
        with (
            _open(path) as stream,
            c2pa.Reader(
                fmt, stream, manifest_data, context=_context(c2pa, trust_anchors)
            ) as reader,
        ):
            store = json.loads(reader.json())
            detailed = json.loads(reader.detailed_json())
    except RecursionError:
        raise ConfigurationError(f"{path} carries a C2PA manifest nested too deeply") from None
    except c2pa.C2paError as exc:
        raise ConfigurationError(
            f"{path} carries no readable C2PA manifest ({type(exc).__name__.lstrip('_')}: {exc})",
            hint="give a C2PA-signed file, or the manifest store JSON a C2PA Reader printed",
        ) from None
    if not isinstance(store, dict) or not isinstance(store.get("manifests"), dict):
        raise ConfigurationError(f"{path}: the C2PA Reader returned no manifest store")
    return Document(store, fmt, whole_file_bindings(detailed))


def _reader_format(path: Path) -> str:
    try:
        return media_type(path)
    except ConfigurationError:
        raise ConfigurationError(
            f"{path} is neither JSON nor a media file C2PA reads",
            hint="give a C2PA-signed file (JPEG, PNG, TIFF, MP4/MOV, WAV, …) or Reader JSON",
        ) from None


def _load_json(path: Path) -> dict[str, Any]:
    with _open(path) as f:
        raw = f.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ConfigurationError(f"{path} is larger than {MAX_JSON_BYTES} bytes of JSON")
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path} is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ConfigurationError(f"{path} holds JSON nested too deeply to read") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{path} holds JSON that is not an object")
    return value


def whole_file_bindings(detailed: Mapping[str, Any]) -> dict[str, str]:
    """SHA-256 (hex) of each manifest whose hard binding covers its whole file.

    That is a ``c2pa.hash.data`` assertion with ``alg`` sha256 and no exclusions (a sidecar or
    remote manifest); an embedded manifest's binding excludes itself, so it names no file hash.
    """
    out = {}
    manifests = detailed.get("manifests")
    for label, manifest in (manifests or {}).items() if isinstance(manifests, Mapping) else ():
        store = manifest.get("assertion_store") if isinstance(manifest, Mapping) else None
        binding = store.get("c2pa.hash.data") if isinstance(store, Mapping) else None
        if not isinstance(binding, Mapping) or binding.get("exclusions"):
            continue
        alg = str(binding.get("alg") or _claim_alg(manifest)).lower()
        digest = _b64_hex(binding.get("hash"))
        if alg == "sha256" and digest:
            out[str(label)] = digest
    return out


def _claim_alg(manifest: Mapping[str, Any]) -> str:
    claim = manifest.get("claim")
    return str(claim.get("alg") or "") if isinstance(claim, Mapping) else ""


def _b64_hex(value: Any) -> str | None:
    try:
        raw = base64.b64decode(str(value or ""), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None
