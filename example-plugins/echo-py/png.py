"""A 64×64 PNG of one colour derived from a seed: the echo network's avatars
(written by hand: the plugin has no image library).

The colour is the Rust build's (FNV-1a of the legacy id); the image data is
stored uncompressed (deflate "stored" blocks), so the bytes differ from the
Rust build's but the picture is the same."""


def fnv1a(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def crc32(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def adler32(data: bytes) -> int:
    a, b = 1, 0
    for x in data:
        a = (a + x) % 65521
        b = (b + a) % 65521
    return (b << 16) | a


def chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return len(data).to_bytes(4, "big") + body + crc32(body).to_bytes(4, "big")


def square_png(seed: str) -> bytes:
    h = fnv1a(seed)
    rgb = bytes([(h >> 16) & 0xFF, (h >> 8) & 0xFF, h & 0xFF])
    raw = (b"\x00" + rgb * 64) * 64  # filter byte 0, then 64 pixels, per row
    deflated = bytearray(b"\x78\x01")
    for start in range(0, len(raw), 65535):
        block = raw[start : start + 65535]
        final = 1 if start + 65535 >= len(raw) else 0
        n = len(block)
        deflated += bytes([final]) + n.to_bytes(2, "little") + (n ^ 0xFFFF).to_bytes(2, "little")
        deflated += block
    deflated += adler32(raw).to_bytes(4, "big")
    header = (64).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", bytes(deflated)) + chunk(b"IEND", b"")
