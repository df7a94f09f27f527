"""One SMTP `DATA` section read in whole chunks, with aiosmtpd's exact rules.

aiosmtpd reads message content one `readuntil(b"\\r\\n")` at a time: a
coroutine round trip, a debug log call and a bytearray per line, about 5 µs
each, so half of what a receiving process spends on a 10 KB notification
(py-spy: `smtp_DATA` and `StreamReader.readuntil`). `DataSection` takes the
bytes as they arrive, in whatever chunks the socket gives;
`service.adapters.aiosmtpd.GuardedSession.smtp_DATA` feeds it. Mail within
the limits (nearly all of it) is kept as it comes and searched for the
end-of-data line, then checked and unstuffed whole with `bytes` methods; a
section that outgrows the size limit, or breaks a limit, is read line by
line with `bytes.find` from then on, which decides which refusal aiosmtpd
would give. It uses no name of aiosmtpd's: it copies aiosmtpd's behaviour,
which `tests/adapters/test_aiosmtpd.py` fingerprints.

The result is aiosmtpd 1.4's, byte for byte and reply for reply (a
differential test, `tests/inbound/test_smtp_data.py`, holds the two together over
real sockets):

- Lines end at every CRLF; a bare CR or LF is content. The section ends at
  the first line that is exactly `.`, so `\\n.\\n` smuggling never ends it.
- A line longer than `line_length_limit` (CRLF included) makes it
  `500 Line too long`; more than `size_limit` bytes of content makes it
  `552 Too much mail data`. Whichever a line breaks first wins, in
  aiosmtpd's order: a line over the reader's limit is too long before it is
  counted, any other line is counted first. The section is still read to its
  end, and nothing more of it is kept.
- A leading dot is removed from each line (RFC 5321 §4.5.2).

What it must never do: keep more than `size_limit` bytes of content plus one
read's worth, or read past the end-of-data line (the bytes after it are the
client's next commands, handed back by `feed`).
"""

from __future__ import annotations

import enum

_CRLF = b"\r\n"
_END = b"\r\n.\r\n"


class DataError(enum.Enum):
    """Why a section was refused, with aiosmtpd's reply for it."""

    TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
    TOO_MUCH = "552 Error: Too much mail data"


class DataSection:
    """The content of one DATA section, fed chunk by chunk until its `.` line."""

    def __init__(self, *, size_limit: int | None, line_length_limit: int) -> None:
        self.size_limit = size_limit or None
        self.line_length_limit = line_length_limit
        self.error: DataError | None = None
        # Within the limits: everything so far, after a CRLF that makes a first `.` line
        # look like any other end of data. None once the lines are scanned one by one.
        self._whole: bytearray | None = bytearray(_CRLF)
        self._content = b""
        # Line by line: the lines kept, and what aiosmtpd would have counted.
        self._lines: list[bytes] = []
        self._counted = 0  # content bytes so far, as aiosmtpd counts them
        self._partial = b""  # the start of a line whose CRLF has not arrived
        self._in_long_line = False  # the partial line is already known to be too long

    def feed(self, chunk: bytes) -> bytes | None:
        """Take the next bytes; once the `.` line is among them, the bytes after it, else None."""
        whole = self._whole
        if whole is None:
            return self._scan(chunk)
        searched = max(0, len(whole) - len(_END) + 1)  # an end split across chunks is found
        whole += chunk
        end = whole.find(_END, searched)
        if end >= 0:
            self._whole = None
            self._finish(bytes(whole[2 : end + 2]))
            return bytes(whole[end + len(_END) :])
        if self.size_limit is not None and len(whole) > self.size_limit + len(_END) + 2:
            self._whole = None  # too much already: count the rest line by line, keeping nothing
            return self._scan(bytes(whole[2:]))
        return None

    def content(self) -> bytes:
        """The message as the client meant it: dot-stuffing undone, CRLF line ends kept."""
        assert self.error is None, "a refused section has no content"
        return self._content or b"".join(self._lines)

    def _finish(self, content: bytes) -> None:
        """A whole section (CRLF-terminated lines, the `.` line left out) that was kept whole."""
        limit, longest = self.size_limit, self.line_length_limit
        if (limit is None or len(content) <= limit) and (
            len(content) <= longest or max(map(len, content.split(_CRLF))) + 2 <= longest
        ):
            unstuffed = content.replace(b"\r\n.", _CRLF)  # the first line has no CRLF before it
            self._content = unstuffed[1:] if unstuffed.startswith(b".") else unstuffed
        else:  # a limit broken: which refusal is aiosmtpd's depends on the order of the lines
            self._scan(content + b".\r\n")

    def _scan(self, chunk: bytes) -> bytes | None:
        """`feed`, line by line: the lines counted and checked in aiosmtpd's order."""
        data = self._partial + chunk if self._partial else chunk
        start = 0
        find = data.find
        while (end := find(_CRLF, start)) >= 0:
            if end - start == 1 and data[start] == 0x2E and not self._in_long_line:
                self._partial = b""
                return data[end + 2 :]
            self._line(data, start, end)
            start = end + 2
        self._partial = data[start:] if start else data
        if len(self._partial) > self.line_length_limit + 1:
            # aiosmtpd's reader gives up on finding this line's end: too long, whatever follows.
            self._refuse_unless_refused(DataError.TOO_LONG)
            self._counted += len(self._partial) - 1
            self._partial = self._partial[-1:]  # may be the CR of the CRLF still to come
            self._in_long_line = True
        return None

    def _line(self, data: bytes, start: int, end: int) -> None:
        """Count the line `data[start:end]` + CRLF and keep it, unless the section is refused."""
        size = end + 2 - start
        if self._in_long_line:  # the end of a line refused as too long while it arrived
            self._in_long_line = False
            self._counted += size
            return
        if size - 2 > self.line_length_limit:
            self._refuse_unless_refused(DataError.TOO_LONG)
        self._counted += size
        if self.error is not None:
            return
        if self.size_limit is not None and self._counted > self.size_limit:
            self._refuse_unless_refused(DataError.TOO_MUCH)
        elif size > self.line_length_limit:
            self._refuse_unless_refused(DataError.TOO_LONG)
        else:
            self._lines.append(data[start + 1 if data[start] == 0x2E else start : end + 2])

    def _refuse_unless_refused(self, error: DataError) -> None:
        if self.error is None:
            self.error = error
            self._lines.clear()
