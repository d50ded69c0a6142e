"""A zip's central directory measured before `zipfile` reads it.

`zipfile.ZipFile` reads the whole central directory, as large as the end record says, and
makes an object of every entry in it before a caller sees the first: a small end record
in front of a directory of a million entries cost seconds and hundreds of megabytes
before any cap applied. Here the end record (and its zip64 form) is read by hand, the
directory's size is bounded by what `max_entries` entries could need, and its entries are
counted one header at a time, stopping one past the cap. The directory is found where
`zipfile` will look for it: right before the end record.
"""

from __future__ import annotations

import struct
import zipfile
from typing import BinaryIO

END = struct.Struct("<4s4H2LH")  # end of central directory record
END64_LOCATOR = struct.Struct("<4sLQL")
END64 = struct.Struct("<4sQ2H2L4Q")  # zip64 end record, without extensible data
ENTRY = struct.Struct("<4s6H3L5H2L")  # an entry's header in the central directory
COMMENT_MAX = 0xFFFF
# What one entry may take in the directory: its header, and 4 KiB of name, extra field
# and comment together (a tar entry's name has the same cap: discover.MAX_HEADER).
ENTRY_ALLOWANCE = ENTRY.size + 4096


class DirectoryTooLarge(Exception):
    """The central directory holds, or claims, more than the archive may have; the
    message says which."""


def check_directory(handle: BinaryIO, max_entries: int) -> None:
    """Raise DirectoryTooLarge when the zip in `handle` claims or holds more than
    `max_entries` entries, or a central directory larger than they could need;
    zipfile.BadZipFile when it has no end record. Reads at most the bounded directory."""
    claimed, size, start = _end_record(handle)
    if claimed > max_entries:
        raise DirectoryTooLarge(f"its end record claims {claimed} entries")
    if size > max_entries * ENTRY_ALLOWANCE:
        raise DirectoryTooLarge(f"its central directory is {size} bytes, more than "
                                f"{max_entries} entries could need")
    if start < 0:
        raise zipfile.BadZipFile("the central directory would start before the file")
    handle.seek(start)
    directory = handle.read(size)
    if _count_entries(directory, max_entries + 1) > max_entries:
        raise DirectoryTooLarge(f"its central directory holds more than {max_entries} "
                                "entries, whatever its end record claims")


def _end_record(handle: BinaryIO) -> tuple[int, int, int]:
    """(entries claimed, directory size, directory start) as the end record says."""
    file_size = handle.seek(0, 2)
    tail_size = min(file_size, END.size + COMMENT_MAX)
    handle.seek(file_size - tail_size)
    tail = handle.read(tail_size)
    # Like zipfile: the record at the very end when there is no comment, else the last one.
    if tail[-END.size:-END.size + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0":
        at = len(tail) - END.size
    else:
        at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + END.size > len(tail):
        raise zipfile.BadZipFile("no end of central directory record")
    fields = END.unpack_from(tail, at)
    claimed, size = fields[4], fields[5]
    end_offset = file_size - tail_size + at
    zip64 = _zip64_record(handle, end_offset)
    if zip64 is not None:
        claimed, size = zip64
        end_offset -= END64_LOCATOR.size + END64.size
    return claimed, size, end_offset - size


def _zip64_record(handle: BinaryIO, end_offset: int) -> tuple[int, int] | None:
    """(entries claimed, directory size) of the zip64 end record right before the end
    record, where zipfile looks for it; None when there is none."""
    start = end_offset - END64_LOCATOR.size - END64.size
    if start < 0:
        return None
    handle.seek(start)
    data = handle.read(END64.size + END64_LOCATOR.size)
    if data[END64.size:END64.size + 4] != b"PK\x06\x07" or data[:4] != b"PK\x06\x06":
        return None
    fields = END64.unpack_from(data)
    return fields[7], fields[8]


def _count_entries(directory: bytes, most: int) -> int:
    """How many entry headers follow one another in `directory`, counted up to `most`;
    a malformed header ends the count (zipfile then says what is wrong)."""
    count = position = 0
    while position < len(directory) and count < most:
        if directory[position:position + 4] != b"PK\x01\x02" or \
                position + ENTRY.size > len(directory):
            break
        fields = ENTRY.unpack_from(directory, position)
        position += ENTRY.size + fields[10] + fields[11] + fields[12]
        count += 1
    return count
