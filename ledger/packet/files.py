"""A packet's files: the SHA-256 manifest, the deterministic .zip, and reading either back.

The manifest ``MANIFEST.sha256`` lists every other file as ``<sha256 hex>  <path>`` (the format
of ``sha256sum``), sorted by path.  The .zip holds the same files, sorted, stored with a fixed
time (1980-01-01 00:00), fixed permissions and deflate level 9, so the same packet gives the
same bytes.  Reading a packet (a folder or a .zip) refuses what could escape or exhaust, as a
verification failure: absolute names, ``..``, symbolic links (a folder's, or a .zip entry whose
Unix mode says link), two names that differ only in case or Unicode normalisation (unpacked on a
case-insensitive or normalising disk, one would replace the other), a name not in its plain
form (``./x``, ``a//b``), more than :data:`MAX_FILES` files or :data:`MAX_TOTAL_BYTES` bytes.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import shutil
import stat
import unicodedata
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from ledger.errors import ConfigurationError, VerificationFailure

MANIFEST = "MANIFEST.sha256"
MAX_FILES = 10_000
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_text(files: Mapping[str, bytes]) -> str:
    return "".join(
        f"{sha256_hex(files[name])}  {name}\n" for name in sorted(files) if name != MANIFEST
    )


def parse_manifest(text: str) -> tuple[dict[str, str], list[str]]:
    """(path → hex digest, lines that are not manifest lines)."""
    out: dict[str, str] = {}
    bad: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            bad.append(f"line {n}")
            continue
        if name in out:
            bad.append(f"line {n} repeats {name}")
        out[name] = digest
    return out, bad


def safe_name(name: str) -> str | None:
    """Why a packet file name is unsafe (None when it is safe)."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\x00" in name:
        return f"unsafe file name {name!r}"
    if path.as_posix() != name:  # "./x", "a//b": another spelling of a name unzip writes once
        return f"unsafe file name {name!r} (not in its plain form {path.as_posix()!r})"
    return None


def write_folder(out: Path, files: Mapping[str, bytes]) -> None:
    for name in sorted(files):
        problem = safe_name(name)
        if problem is not None:
            raise ConfigurationError(problem)
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[name])


def write_packet(out: Path, files: Mapping[str, bytes]) -> Path:
    """Write the packet folder ``out`` and ``out``.zip whole, or neither; return the .zip's path.

    Both are written beside their places under hidden temporary names, then renamed into place,
    so a full disk or an unwritable folder never leaves a partial packet under the packet's
    names: the temporary files are removed and a :class:`ConfigurationError` (exit 2) says what
    failed.  ``out`` must be new or an empty folder.
    """
    zip_path = out.with_name(out.name + ".zip")
    staging = out.with_name(f".{out.name}.{secrets.token_hex(6)}.partial")
    zip_staging = zip_path.with_name(f".{zip_path.name}.{secrets.token_hex(6)}.partial")
    placed = False
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        write_folder(staging, files)
        with zip_staging.open("xb") as stream:
            stream.write(zip_bytes(files))
        staging.replace(out)  # a new name, or an empty folder replaced (POSIX rename)
        placed = True
        zip_staging.replace(zip_path)
    except OSError as exc:
        if placed:
            shutil.rmtree(out, ignore_errors=True)
        raise ConfigurationError(
            f"cannot write the packet {out}: {exc.strerror or exc}",
            hint="free space or give a writable folder (-o DIR); no part of the packet was left",
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        zip_staging.unlink(missing_ok=True)
    return zip_path


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            z.writestr(info, files[name], compresslevel=9)
    return buf.getvalue()


def read_packet(path: Path) -> dict[str, bytes]:
    """Every file of a packet folder or .zip, by its path inside the packet."""
    if path.is_dir():
        return _read_folder(path)
    if path.is_file() and zipfile.is_zipfile(path):
        return _read_zip(path)
    raise ConfigurationError(
        f"{path} is neither a packet folder nor a .zip",
        hint="give the folder packet build wrote (-o DIR) or DIR.zip",
    )


def _read_folder(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            raise VerificationFailure(f"packet file {p} is a symbolic link; a packet holds none")
        if not p.is_file():
            continue
        if len(files) >= MAX_FILES:
            raise VerificationFailure(f"packet {root} holds more than {MAX_FILES} files")
        data = p.read_bytes()
        total += len(data)
        if total > MAX_TOTAL_BYTES:
            raise VerificationFailure(f"packet {root} is larger than {MAX_TOTAL_BYTES} bytes")
        files[p.relative_to(root).as_posix()] = data
    _refuse_case_collisions(files, root)
    return files


def _refuse_case_collisions(files: Mapping[str, bytes], where: Path) -> None:
    seen: dict[str, str] = {}
    for name in sorted(files):
        other = seen.setdefault(unicodedata.normalize("NFC", name).casefold(), name)
        if other != name:
            raise VerificationFailure(
                f"packet {where} holds {other!r} and {name!r}, names that differ only in case"
                " (or Unicode normalisation):"
                " unpacked on a case-insensitive disk, one would replace the other"
            )


def _read_zip(path: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if not i.is_dir()]
            if len(infos) > MAX_FILES:
                raise VerificationFailure(f"packet {path} holds more than {MAX_FILES} files")
            if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
                raise VerificationFailure(f"packet {path} unpacks to more than {MAX_TOTAL_BYTES}")
            for info in infos:
                problem = safe_name(info.filename)
                if problem is not None:
                    raise VerificationFailure(f"packet {path}: {problem}")
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise VerificationFailure(
                        f"packet {path}: {info.filename} is a symbolic link; a packet holds none"
                    )
                if info.filename in files:
                    raise VerificationFailure(f"packet {path} holds {info.filename} twice")
                files[info.filename] = z.read(info)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:  # ValueError: bad CRC, sizes
        raise VerificationFailure(f"packet {path} is not a readable .zip: {exc}") from None
    _refuse_case_collisions(files, path)
    return files
