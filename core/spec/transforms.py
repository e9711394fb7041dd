"""Transforms a spec applies to a field's bytes before its type reads them (``process:``), and the keys they use.

```yaml
- name: payload
  type: records
  process:
    transform: aes128_cbc
    if: "mode == 5"                 # otherwise the bytes are read as they are
    check: "2F2F"                   # decrypted data starts with these: a wrong key is told from a right one
    params: {key: "meter_id", iv: "raw_m + raw_a + bytes([access_number] * 8)", blocks: "encrypted_blocks"}
```

Params are expressions over the earlier fields (a literal number or ``true`` stays itself). ``key`` names the
key (any value: the meter's id, say): the ``KeyRing`` handed to ``Spec.decode(frame, keys=...)`` gives the
candidate keys for it, each is tried until ``check`` passes. Without a key that works the field keeps the
bytes as received and a flag says so; that is no error, since a receiver hears meters whose keys it has not
got. Plugins add transforms with :func:`register_transform` (``core.api`` exports it).

Built in: ``aes128_cbc`` (EN 13757-7 security modes 5 and 7: key, iv, blocks = how many 16-byte
blocks are encrypted, 0 for all whole blocks; optional derive = a 16-byte block: the key used is then
AES-CMAC(key, derive), the OMS key derivation of mode 7), ``aes128_ctr`` (key, iv: the counter block) and
``crc_blocks`` (a CRC after each block: first = size of the first block, size = of the others, poly, init,
xorout; optional length_counts_crcs: the first byte is an L field that counts the CRCs too, as in wireless
M-Bus format B, and is given back without them; decoding checks and drops the CRCs, encoding adds them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.errors import ChecksumError, FrameError
from core.spec.checksums import Crc


class Transform(Protocol):
    params: tuple[str, ...]  # required params (a transform may also list ``optional`` ones)

    def decode(
        self, data: bytes, args: dict[str, Any], keys: KeyRing | None, check: bytes
    ) -> tuple[bytes | None, str | None]:
        """(transformed bytes, None), or (None, why) when it cannot run (raise FrameError when the bytes are bad)."""
        ...

    def encode(self, data: bytes, args: dict[str, Any], keys: KeyRing | None) -> bytes: ...


@dataclass
class KeyRing:
    """Keys by the id a spec's ``key`` param gives (a meter id, say), and keys tried for every id."""

    by_id: dict[str, list[bytes]] = field(default_factory=dict)
    default: list[bytes] = field(default_factory=list)

    @classmethod
    def of(cls, keys: KeyRing | Mapping[Any, Any] | Iterable[Any] | None) -> KeyRing | None:
        """A key ring from a mapping ``{id: key or [keys]}``, a list of keys for any id, or a key ring."""
        if keys is None or isinstance(keys, KeyRing):
            return keys
        if isinstance(keys, Mapping):
            ring = cls()
            for key_id, value in keys.items():
                values = value if isinstance(value, (list, tuple)) else [value]
                ring.by_id[str(key_id).upper()] = [_key_bytes(v) for v in values]
            return ring
        return cls(default=[_key_bytes(k) for k in keys])

    def candidates(self, key_id: Any) -> list[bytes]:
        if isinstance(key_id, (bytes, bytearray)) and len(key_id) == 16:
            return [bytes(key_id)]
        return self.by_id.get(str(key_id).upper(), []) + self.default


def _key_bytes(value: Any) -> bytes:
    raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    if len(raw) != 16:
        raise ValueError(f"an AES-128 key has 16 bytes, got {len(raw)}")
    return raw


def _bytes_arg(args: dict[str, Any], name: str, size: int | None = None) -> bytes:
    value = args.get(name)
    if not isinstance(value, (bytes, bytearray)) or (size is not None and len(value) != size):
        raise FrameError(f"the param {name} must be {size or 'some'} bytes, got {value!r}", found=value)
    return bytes(value)


def _cipher(key: bytes, mode: Any) -> Any:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    return Cipher(algorithms.AES(key), mode)


def _derived(key: bytes, args: dict[str, Any]) -> bytes:
    """The key itself, or with a ``derive`` block the key AES-CMAC derives from it (OMS key derivation)."""
    if args.get("derive") is None:
        return key
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.cmac import CMAC

    mac = CMAC(algorithms.AES(key))
    mac.update(_bytes_arg(args, "derive", 16))
    return mac.finalize()


class AesCbc:
    params: tuple[str, ...] = ("key", "iv", "blocks")
    optional: tuple[str, ...] = ("derive",)

    def _split(self, data: bytes, blocks: Any) -> tuple[bytes, bytes]:
        count = len(data) // 16 if not blocks else int(blocks)
        if count * 16 > len(data):
            raise FrameError(
                f"{count} encrypted blocks need {count * 16} bytes, found {len(data)}",
                expected=count * 16,
                found=len(data),
            )
        return data[: count * 16], data[count * 16 :]

    def decode(
        self, data: bytes, args: dict[str, Any], keys: KeyRing | None, check: bytes
    ) -> tuple[bytes | None, str | None]:
        from cryptography.hazmat.primitives.ciphers import modes

        iv = _bytes_arg(args, "iv", 16)
        secret, clear = self._split(data, args.get("blocks"))
        candidates = keys.candidates(args.get("key")) if keys is not None else []
        for key in candidates:
            decryptor = _cipher(_derived(key, args), modes.CBC(iv)).decryptor()
            plain = decryptor.update(secret) + decryptor.finalize()
            if plain.startswith(check):
                return plain + clear, None
        if check and data.startswith(check):
            return data, None  # handed over already decrypted (many receivers do), the mode bits kept
        if not candidates:
            return None, f"encrypted (AES-128-CBC): no key for {args.get('key')}"
        return None, f"encrypted (AES-128-CBC): no key of {args.get('key')} decrypts it"

    def encode(self, data: bytes, args: dict[str, Any], keys: KeyRing | None) -> bytes:
        from cryptography.hazmat.primitives.ciphers import modes

        iv = _bytes_arg(args, "iv", 16)
        blocks = args.get("blocks")
        if not blocks:
            data = data + b"\x2f" * (-len(data) % 16)
        elif len(data) < int(blocks) * 16:
            data = data + b"\x2f" * (int(blocks) * 16 - len(data))  # idle fillers up to the encrypted blocks
        secret, clear = self._split(data, blocks)
        candidates = keys.candidates(args.get("key")) if keys is not None else []
        if not candidates:
            raise FrameError(f"no key for {args.get('key')} to encrypt with", found=args.get("key"))
        encryptor = _cipher(_derived(candidates[0], args), modes.CBC(iv)).encryptor()
        return encryptor.update(secret) + encryptor.finalize() + clear


class AesCtr:
    """AES-128-CTR; with ``crc: true`` the data starts with a CRC-16/EN-13757 (little endian) of the rest, which
    tells a right key from a wrong one, and data that already passes it was handed over in clear."""

    params: tuple[str, ...] = ("key", "iv")
    optional: tuple[str, ...] = ("crc",)

    @staticmethod
    def _crc_ok(plain: bytes) -> bool:
        return len(plain) >= 2 and _EN13757(plain[2:]) == int.from_bytes(plain[:2], "little")

    def _run(self, data: bytes, key: bytes, iv: bytes) -> bytes:
        from cryptography.hazmat.primitives.ciphers import modes

        cipher = _cipher(key, modes.CTR(iv)).encryptor()
        return cipher.update(data) + cipher.finalize()

    def decode(
        self, data: bytes, args: dict[str, Any], keys: KeyRing | None, check: bytes
    ) -> tuple[bytes | None, str | None]:
        iv = _bytes_arg(args, "iv", 16)
        verify = bool(args.get("crc"))
        candidates = keys.candidates(args.get("key")) if keys is not None else []
        for key in candidates:
            plain = self._run(data, key, iv)
            if plain.startswith(check) and (not verify or self._crc_ok(plain)):
                return plain, None
        if verify and self._crc_ok(data):
            return data, None  # handed over in clear
        if not candidates:
            return None, f"encrypted (AES-128-CTR): no key for {args.get('key')}"
        return None, f"encrypted (AES-128-CTR): no key of {args.get('key')} decrypts it"

    def encode(self, data: bytes, args: dict[str, Any], keys: KeyRing | None) -> bytes:
        candidates = keys.candidates(args.get("key")) if keys is not None else []
        if not candidates:
            raise FrameError(f"no key for {args.get('key')} to encrypt with", found=args.get("key"))
        return self._run(data, candidates[0], _bytes_arg(args, "iv", 16))


class CrcBlocks:
    """Blocks each followed by a 16-bit CRC (big endian), as wireless M-Bus frame formats A and B carry them."""

    params: tuple[str, ...] = ("first", "size", "poly", "init", "xorout")
    optional: tuple[str, ...] = ("length_counts_crcs",)

    def _crc(self, args: dict[str, Any]) -> Crc:
        return Crc(16, int(args["poly"]), int(args["init"]), int(args["xorout"]))

    def decode(
        self, data: bytes, args: dict[str, Any], keys: KeyRing | None, check: bytes
    ) -> tuple[bytes | None, str | None]:
        crc = self._crc(args)
        out = bytearray()
        position, block = 0, int(args["first"])
        index = 0
        while position < len(data):
            chunk = data[position : position + block + 2]
            if len(chunk) < 3:
                raise FrameError(f"block {index} is too short for its CRC", expected=3, found=len(chunk))
            body, found = chunk[:-2], int.from_bytes(chunk[-2:], "big")
            if crc(body) != found:
                raise ChecksumError(
                    f"CRC of block {index} is wrong: expected 0x{crc(body):04X}, found 0x{found:04X}",
                    expected=f"0x{crc(body):04X}",
                    found=f"0x{found:04X}",
                )
            out += body
            position += len(chunk)
            block = int(args["size"])
            index += 1
        if args.get("length_counts_crcs") and out:
            if out[0] != len(data) - 1:
                raise FrameError(
                    f"the L field counts {out[0]} bytes after it, the frame has {len(data) - 1}",
                    expected=len(data) - 1,
                    found=out[0],
                )
            out[0] -= 2 * index
        return bytes(out), None

    def encode(self, data: bytes, args: dict[str, Any], keys: KeyRing | None) -> bytes:
        crc = self._crc(args)
        out = bytearray()
        position, block = 0, int(args["first"])
        while position < len(data):
            body = data[position : position + block]
            if args.get("length_counts_crcs") and position == 0 and body:
                blocks = 1 + max(0, -(-(len(data) - block) // int(args["size"])))
                if body[0] + 2 * blocks > 0xFF:
                    raise FrameError(f"the L field {body[0]} with {blocks} CRCs does not fit a byte", found=body[0])
                body = bytes([body[0] + 2 * blocks]) + body[1:]
            out += body + crc(body).to_bytes(2, "big")
            position += len(body)
            block = int(args["size"])
        return bytes(out)


_EN13757 = Crc(16, 0x3D65, xorout=0xFFFF)

TRANSFORMS: dict[str, Transform] = {"aes128_cbc": AesCbc(), "aes128_ctr": AesCtr(), "crc_blocks": CrcBlocks()}


def register_transform(name: str, transform: Transform) -> None:
    """Make ``transform`` available to specs as ``process: {transform: NAME}`` (before they are loaded)."""
    if not name.isidentifier():
        raise ValueError(f"a transform name is an identifier, got {name!r}")
    TRANSFORMS[name] = transform
