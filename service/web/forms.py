"""Reading what a browser posted: bounded forms, their text made storable, their files.

The size of every form is bounded by its route's `BodyLimit` before this
reads a byte; here the form is parsed with limits on files and fields, text
is made what every database stores, and uploaded files get safe names and
plain media types (an upload must never be served back as a page).
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from service.domain.records import Attachment

MAX_FILES = 10
MAX_TEXT_FIELD = 1024 * 1024

_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f\"\\/]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""What no database keeps in text (PostgreSQL refuses NUL): shown as U+FFFD, as mail is."""


class UnreadableForm(Exception):
    """The posted form could not be read; the message says why, for the person who sent it."""


async def read_form(request: Request) -> FormData:
    """The posted form (its size bounded by the route's `BodyLimit`); `UnreadableForm` if not."""
    try:
        return await request.form(max_files=MAX_FILES, max_fields=50, max_part_size=MAX_TEXT_FIELD)
    except HTTPException as error:  # malformed multipart, too many files or fields
        raise UnreadableForm(str(error.detail)) from None
    except ClientDisconnect:  # gone, or cut off for sending too slowly: nobody reads this
        raise UnreadableForm("The form did not arrive. Send it again.") from None


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def storable(typed: str) -> str:
    """Free text a person typed, with what no database keeps replaced (as inbound mail is)."""
    return _UNSTORABLE.sub("\ufffd", typed)


async def attachments(form: FormData) -> tuple[tuple[Attachment, ...], dict[str, bytes]]:
    """The files chosen in the form (an empty file input sends a nameless part: skipped)."""
    found: list[Attachment] = []
    blobs: dict[str, bytes] = {}
    for value in form.getlist("attachments"):
        if not isinstance(value, UploadFile) or not value.filename:
            continue
        data = await value.read()
        blob_id = uuid.uuid4().hex
        blobs[blob_id] = data
        name = _UNSAFE_FILENAME.sub("_", value.filename.rsplit("/", 1)[-1]).strip() or "file"
        found.append(Attachment(name[:200], media_type(value.content_type), len(data), blob_id))
    return tuple(found), blobs


def media_type(value: str | None) -> str:
    """A plain `type/subtype` (parameters dropped), or octet-stream when it is anything else."""
    media = (value or "").split(";", 1)[0].strip().lower()
    return media if _MEDIA_TYPE.fullmatch(media) else "application/octet-stream"


def content_disposition(filename: str) -> str:
    """`attachment`, with an ASCII fallback name and the real one in RFC 5987 form."""
    cleaned = _UNSAFE_FILENAME.sub("_", filename).strip() or "attachment"
    fallback = cleaned.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"
