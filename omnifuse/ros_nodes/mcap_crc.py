"""Checksums for the MCAP files omnifuse writes, so that a damaged byte is caught when the bag is read.

rosbags writes MCAP chunks with CRC 0 ("no checksum"), and readers then cannot tell a flipped byte in an
image from a real pixel. `add_crcs` fills, in place, the three CRC-32 fields of the MCAP specification
(https://mcap.dev/spec): each Chunk's `uncompressed_crc` (of its decompressed records), DataEnd's
`data_section_crc` (of every byte from the magic to the DataEnd record) and the Footer's `summary_crc` (of
the summary section through the Footer's two offsets). The fields have fixed sizes, so no offset moves.
rosbags' reader and ROS 2's rosbag2 (the mcap C++ library) check the chunk CRCs when they are non-zero.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from omnifuse.errors import FormatError

__all__ = ['add_crcs', 'MCAP_MAGIC']

MCAP_MAGIC = b'\x89MCAP0\r\n'
_OP_FOOTER, _OP_CHUNK, _OP_DATA_END = 0x02, 0x06, 0x0F
_RECORD_HEAD = struct.Struct('<BQ')  # opcode, content length


def _decompress(data: bytes, compression: str, size: int, source: str) -> bytes:
    if compression == '':
        return data
    if compression == 'zstd':
        try:
            from compression import zstd
        except ImportError:
            from backports import zstd
        return zstd.decompress(data)
    if compression == 'lz4':
        import lz4.frame

        return lz4.frame.decompress(data)
    raise FormatError(f'{source}: MCAP chunk compression {compression!r} is not supported')


def _chunk_crc(content: bytes, source: str) -> tuple[int, int]:
    """(offset of uncompressed_crc in the chunk content, CRC-32 of its decompressed records)."""
    size = struct.unpack_from('<Q', content, 16)[0]
    (name_len,) = struct.unpack_from('<I', content, 28)
    compression = content[32:32 + name_len].decode('utf-8')
    pos = 32 + name_len
    (records_len,) = struct.unpack_from('<Q', content, pos)
    records = content[pos + 8:pos + 8 + records_len]
    raw = _decompress(records, compression, size, source)
    if len(raw) != size:
        raise FormatError(f'{source}: MCAP chunk says {size} bytes uncompressed, holds {len(raw)}')
    return 24, zlib.crc32(raw)


def add_crcs(path: str | Path) -> int:
    """Fill the chunk, data-section and summary CRCs of the MCAP file at `path` in place.

    Returns:
        the number of chunks given a CRC.

    Raises:
        FormatError: not an MCAP file, or a record that runs past the end of the file.
    """
    path = Path(path)
    buf = bytearray(path.read_bytes())
    source = str(path)
    if buf[:8] != MCAP_MAGIC:
        raise FormatError(f'{source}: not an MCAP file (no MCAP magic)')
    pos, chunks, data_end = 8, 0, None
    while pos < len(buf):
        if pos + _RECORD_HEAD.size > len(buf):
            raise FormatError(f'{source}: MCAP record header at byte {pos} runs past the end of the file')
        opcode, length = _RECORD_HEAD.unpack_from(buf, pos)
        start = pos + _RECORD_HEAD.size
        if start + length > len(buf):
            raise FormatError(f'{source}: MCAP record at byte {pos} runs past the end of the file')
        if opcode == _OP_CHUNK:
            offset, crc = _chunk_crc(bytes(buf[start:start + length]), source)
            struct.pack_into('<I', buf, start + offset, crc)
            chunks += 1
        elif opcode == _OP_DATA_END:
            data_end = pos
            struct.pack_into('<I', buf, start, zlib.crc32(bytes(buf[:pos])))
        elif opcode == _OP_FOOTER:
            summary_start = struct.unpack_from('<Q', buf, start)[0]
            if summary_start:  # 0: the file has no summary section, and its CRC stays "not available"
                struct.pack_into('<I', buf, start + 16, zlib.crc32(bytes(buf[summary_start:start + 16])))
            break
        pos = start + length
    if data_end is None:
        raise FormatError(f'{source}: MCAP file has no DataEnd record (not closed?)')
    path.write_bytes(bytes(buf))
    return chunks
