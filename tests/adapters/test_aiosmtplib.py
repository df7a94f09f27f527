"""`service.adapters.aiosmtplib` against the aiosmtplib installed: every private name it relies on.

`RelayClient.data_as_is` writes the content of `DATA` through aiosmtplib's
protocol object, which the package does not export. If a release renames,
re-types or changes what those names do, a test here fails naming it,
instead of notifications timing out or vanishing. Update the adapter and
the pin in pyproject.toml together, then this file.

What arrives at a real SMTP server, byte for byte, is tested in
`tests/outbound/test_transport.py` (against stock aiosmtpd and maildesk's
own session, with the relay's refusals classified).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosmtplib
import anyio
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import SMTPProtocol, normalize_message_line_endings
from hypothesis import given, settings
from hypothesis import strategies as st

from service.adapters.aiosmtplib import _PLAIN_ADDRESS, RelayClient, _PipelinedReplies
from tests.adapters.pins import assert_installed_in_pinned_series
from tests.inbound.test_smtp_data import Keeper, stock_aiosmtpd
from tests.loops import anyio_backend_on_both_loops  # noqa: F401 (a fixture: both event loops)

pytestmark = pytest.mark.anyio

PROTOCOL_METHODS = {
    "write": (["self", "data"], False),
    "read_response": (["self", "timeout"], True),
    "_read_response_from_buffer": (["self"], False),  # pipelining: the next reply off _buffer
    "data_received": (["self", "data"], False),  # overridden for pipelining
    "connection_lost": (["self", "exc"], False),  # overridden for pipelining
}
"""`SMTPProtocol` methods the adapter calls: (parameters, is a coroutine function)."""

CLIENT_METHODS = {
    "execute_command": (["self", "args", "timeout"], True),  # public, but the DATA command's path
    "data": (["self", "message", "timeout"], True),  # public: the fallback for other line ends
}

MESSAGE = b"Subject: a\r\n\r\n.first\r\nsecond\r\n"


def test_aiosmtplib_is_the_series_the_adapter_was_written_for() -> None:
    assert_installed_in_pinned_series("aiosmtplib", "service/adapters/aiosmtplib.py")


@pytest.mark.parametrize(
    ("owner", "name"),
    [(SMTPProtocol, name) for name in PROTOCOL_METHODS]
    + [(aiosmtplib.SMTP, name) for name in CLIENT_METHODS],
)
def test_each_method_the_adapter_calls_still_has_the_same_parameters(
    owner: type, name: str
) -> None:
    parameters, is_coroutine = {**PROTOCOL_METHODS, **CLIENT_METHODS}[name]
    method = getattr(owner, name, None)
    assert method is not None, f"aiosmtplib's {owner.__name__}.{name} is gone"
    found = list(inspect.signature(method).parameters)
    assert found == parameters, f"{owner.__name__}.{name} now takes {found}"
    assert inspect.iscoroutinefunction(method) is is_coroutine


def test_read_response_still_waits_forever_unless_given_a_timeout() -> None:
    assert inspect.signature(SMTPProtocol.read_response).parameters["timeout"].default is None


def test_the_client_keeps_its_timeout_and_no_protocol_until_it_connects() -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=25, timeout=7.5)
    assert vars(client).get("timeout") == 7.5, "aiosmtplib's SMTP no longer keeps `timeout`"
    assert "protocol" in vars(client) and client.protocol is None


async def test_the_client_says_it_needs_ehlo_until_it_has_greeted() -> None:
    assert isinstance(vars(aiosmtplib.SMTP).get("is_ehlo_or_helo_needed"), property)
    async with stock_aiosmtpd(Keeper()) as port:
        client = RelayClient(hostname="127.0.0.1", port=port, timeout=2, start_tls=False)
        await client.connect()
        assert client.is_ehlo_or_helo_needed
        await client.ehlo()
        assert not client.is_ehlo_or_helo_needed
        await client.quit()


def test_the_names_the_adapter_adds_are_not_aiosmtplibs() -> None:
    added = {n for n in vars(RelayClient) if not n.startswith("__")}
    assert added == {"content_as_is", "data_as_is", "mail_as_is", "rcpt_as_is", "start_data_as_is"}
    assert not added & set(dir(aiosmtplib.SMTP)), "aiosmtplib now has one of them of its own"


@settings(max_examples=500)
@given(st.from_regex(_PLAIN_ADDRESS, fullmatch=True))
def test_a_plain_address_is_what_aiosmtplib_would_have_sent(address: str) -> None:
    """`mail_as_is` and `rcpt_as_is` write `<address>`: aiosmtplib's parser says the same."""
    assert quote_address(address) == f"<{address}>"


@pytest.mark.parametrize(
    "address",
    [
        "a b@c.test",
        "<a@c.test>",
        "a@c.test> SIZE=1",
        "a@c.test\r\nRSET",
        '"a b"@c.test',
        "a@[1.2.3.4]",
    ],
)
def test_anything_else_is_not_plain(address: str) -> None:
    assert not _PLAIN_ADDRESS.fullmatch(address)


class EnvelopeKeeper(Keeper):
    """Keeps each envelope too, and refuses the recipient `nobody@d.test`."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address == "nobody@d.test":
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return await super().handle_DATA(server, session, envelope)


async def test_the_envelope_as_is_is_aiosmtplibs_envelope_and_refused_the_same_way() -> None:
    relay = EnvelopeKeeper()
    async with stock_aiosmtpd(relay) as port:
        client = RelayClient(hostname="127.0.0.1", port=port, timeout=2, start_tls=False)
        await client.connect()
        await client.ehlo()
        assert (await client.mail_as_is("bounces+1.x@b.test")).code == 250
        assert (await client.rcpt_as_is("c.d+e@d.test")).code == 250
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt_as_is("nobody@d.test")
        assert (refused.value.code, refused.value.recipient) == (550, "nobody@d.test")
        await client.data_as_is(MESSAGE)
        await client.mail_as_is("Some One <a@b.test>")  # not plain: aiosmtplib's mail() reads it
        await client.rcpt_as_is("c@d.test")
        await client.data_as_is(MESSAGE)
        await client.quit()
    assert relay.envelopes == [
        ("bounces+1.x@b.test", ["c.d+e@d.test"]),
        ("a@b.test", ["c@d.test"]),
    ]


@asynccontextmanager
async def silent_after_354() -> AsyncIterator[int]:
    """A relay that takes the envelope, answers `354` to DATA, then never replies again."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 relay.test ESMTP\r\n")
        while line := await reader.readline():
            if line[:4].upper() == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                await reader.read()  # take the content, answer nothing
                break
            writer.write(b"250 OK\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def test_no_reply_to_the_content_is_a_timeout_and_the_connection_is_closed() -> None:
    async with silent_after_354() as port:
        client = RelayClient(hostname="127.0.0.1", port=port, timeout=0.3, start_tls=False)
        await client.connect()
        await client.ehlo()
        await client.mail("a@b.test")
        await client.rcpt("c@d.test")
        with anyio.fail_after(5), pytest.raises(aiosmtplib.SMTPTimeoutError):
            await client.data_as_is(MESSAGE)
        assert not client.is_connected and client.protocol is None


# --- pipelining (RFC 2920): the names `_PipelinedReplies` relies on, then whole exchanges


async def test_a_protocol_keeps_unparsed_bytes_in_a_bytearray_and_reads_one_reply_off_it() -> None:
    protocol = SMTPProtocol(loop=asyncio.get_running_loop())
    assert isinstance(protocol._buffer, bytearray)
    assert protocol._loop is asyncio.get_running_loop()
    protocol._buffer.extend(b"250-one\r\n250 two\r\n354 go\r\n452 pa")
    first = protocol._read_response_from_buffer()
    assert first is not None and (first.code, first.message) == (250, "one\ntwo")
    second = protocol._read_response_from_buffer()
    assert second is not None and second.code == 354
    assert protocol._read_response_from_buffer() is None  # half a reply stays for later
    assert bytes(protocol._buffer) == b"452 pa"


def test_a_protocol_object_can_take_the_pipelining_class_and_keeps_its_state() -> None:
    """`_PipelinedReplies.of` changes the class of aiosmtplib's own object: no slots may stop
    it, and the subclass must bring no state of its own but its class-level defaults."""
    loop = asyncio.new_event_loop()
    try:
        protocol = SMTPProtocol(loop=loop)
        before = dict(vars(protocol))
        assert _PipelinedReplies.of(protocol) is protocol
        assert type(protocol) is _PipelinedReplies and vars(protocol) == before
        assert "__init__" not in vars(_PipelinedReplies)
    finally:
        loop.close()


def test_line_ends_are_normalised_as_data_would() -> None:
    assert list(inspect.signature(normalize_message_line_endings).parameters) == ["message"]
    assert normalize_message_line_endings(b"a\nb\rc") == b"a\r\nb\r\nc\r\n"


class ScriptedRelay:
    """A relay that reads what arrives and answers by a script, recording each read's commands.

    `pipelining` offers PIPELINING; `replies` answers a verb (`MAIL`, `RCPT`, `DATA`)
    otherwise than `250`/`354`; `apart` writes each reply on its own, a few milliseconds
    after the one before; `bytewise` writes them a byte at a time; `silent` answers nothing
    after EHLO; `hang_up` closes the connection when the envelope arrives.
    """

    def __init__(
        self,
        *,
        pipelining: bool = True,
        replies: dict[bytes, bytes] | None = None,
        apart: bool = False,
        bytewise: bool = False,
        silent: bool = False,
        hang_up: bool = False,
    ) -> None:
        self.pipelining, self.replies = pipelining, replies or {}
        self.apart, self.bytewise, self.silent, self.hang_up = apart, bytewise, silent, hang_up
        self.reads: list[list[bytes]] = []
        self.contents: list[bytes] = []

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 relay.test ESMTP\r\n")
        buffer, in_data = b"", False
        while data := await reader.read(65536):
            buffer += data
            answers: list[bytes] = []
            commands: list[bytes] = []
            while True:
                if in_data:
                    end = buffer.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    # as a relay reads it: the CRLF put before it off, the dots unstuffed
                    self.contents.append(buffer[: end + 2].replace(b"\r\n..", b"\r\n.")[2:])
                    buffer, in_data = buffer[end + 5 :], False
                    answers.append(b"250 kept\r\n")
                    continue
                line, found, rest = buffer.partition(b"\r\n")
                if not found:
                    break
                buffer, verb = rest, line[:4].upper()
                commands.append(line)
                if verb == b"EHLO":
                    offer = b"250-PIPELINING\r\n" if self.pipelining else b""
                    answers.append(b"250-relay.test\r\n" + offer + b"250 8BITMIME\r\n")
                elif verb == b"QUIT":
                    answers.append(b"221 bye\r\n")
                else:
                    answer = self.replies.get(verb, b"354 go" if verb == b"DATA" else b"250 OK")
                    in_data = answer.startswith(b"354")
                    answers.append(answer + b"\r\n")
                    buffer = b"\r\n" + buffer if in_data else buffer
            if commands and commands[0][:4].upper() != b"EHLO":
                self.reads.append(commands)
                if self.hang_up:
                    break
                if self.silent:
                    continue
            await self._answer(writer, answers)
        writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, answers: list[bytes]) -> None:
        if self.bytewise:
            for byte in b"".join(answers):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0)
            return
        for answer in answers if self.apart else [b"".join(answers)]:
            writer.write(answer)
            await writer.drain()
            if self.apart:
                await asyncio.sleep(0.005)


@asynccontextmanager
async def connected(relay: ScriptedRelay, wait_s: float = 2) -> AsyncIterator[RelayClient]:
    server = await asyncio.start_server(relay.session, "127.0.0.1", 0)
    client = RelayClient(
        hostname="127.0.0.1",
        port=int(server.sockets[0].getsockname()[1]),
        timeout=wait_s,
        start_tls=False,
    )
    try:
        await client.connect()
        await client.ehlo()
        yield client
    finally:
        client.close()
        server.close()
        await server.wait_closed()


ENVELOPE = [b"MAIL FROM:<bounces+1@b.test>", b"RCPT TO:<c@d.test>", b"RCPT TO:<e@f.test>", b"DATA"]


async def send(client: RelayClient, message: bytes = MESSAGE) -> None:
    await client.start_data_as_is("bounces+1@b.test", ["c@d.test", "e@f.test"])
    await client.content_as_is(message)


@pytest.mark.parametrize("how", ["together", "apart", "bytewise"])
async def test_a_relay_that_offers_pipelining_gets_the_envelope_in_one_write(how: str) -> None:
    relay = ScriptedRelay(apart=how == "apart", bytewise=how == "bytewise")
    async with connected(relay) as client:
        for _ in range(3):  # the replies of one group never meet the next one's
            await send(client)
        assert (await client.rset()).code == 250  # aiosmtplib's own reading, after groups
        await client.quit()
    assert relay.reads == [ENVELOPE, ENVELOPE, ENVELOPE, [b"RSET"], [b"QUIT"]]
    assert relay.contents == [MESSAGE] * 3


async def test_without_pipelining_the_envelope_goes_one_command_at_a_time_the_same() -> None:
    relay = ScriptedRelay(pipelining=False)
    async with connected(relay) as client:
        await send(client)
        await client.quit()
    assert relay.reads == [[command] for command in ENVELOPE] + [[b"QUIT"]]
    assert relay.contents == [MESSAGE]


async def test_content_with_other_line_ends_arrives_as_data_would_send_it() -> None:
    relay = ScriptedRelay()
    async with connected(relay) as client:
        await send(client, b"Subject: a\n\n.dot\rend")
        await client.data(b"Subject: a\n\n.dot\rend")
    assert relay.contents == [b"Subject: a\r\n\r\n.dot\r\nend\r\n"] * 2


async def test_a_refused_sender_is_aiosmtplibs_refusal_and_the_connection_stays_usable() -> None:
    relay = ScriptedRelay(
        replies={b"MAIL": b"451 4.3.0 later", b"RCPT": b"503 5.5.1 MAIL first", b"DATA": b"503 no"}
    )
    async with connected(relay) as client:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await send(client)
        assert (refused.value.code, refused.value.sender) == (451, "bounces+1@b.test")
        assert client.is_connected
        assert (await client.rset()).code == 250


async def test_a_refused_recipient_is_named() -> None:
    relay = ScriptedRelay(replies={b"RCPT": b"550 5.1.1 no such user", b"DATA": b"554 none"})
    async with connected(relay) as client:
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await send(client)
        assert (refused.value.code, refused.value.recipient) == (550, "c@d.test")
        assert client.is_connected


async def test_a_refused_data_command_is_a_data_error() -> None:
    relay = ScriptedRelay(replies={b"DATA": b"452 4.3.1 full"})
    async with connected(relay) as client:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await send(client)
        assert refused.value.code == 452 and client.is_connected


async def test_a_relay_that_starts_data_after_a_refusal_is_hung_up_on() -> None:
    """It waits for content that must not be sent (a recipient was refused): only closing
    the connection ends that transaction without delivering anything."""
    relay = ScriptedRelay(replies={b"RCPT": b"550 5.1.1 no such user"})
    async with connected(relay) as client:
        with pytest.raises(aiosmtplib.SMTPRecipientRefused):
            await send(client)
        assert not client.is_connected
    assert relay.contents == []


async def test_a_relay_that_hangs_up_during_the_group_is_a_disconnect() -> None:
    async with connected(ScriptedRelay(hang_up=True)) as client:
        with anyio.fail_after(5), pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await send(client)
        assert not client.is_connected and client.protocol is None


async def test_no_replies_to_the_group_is_a_timeout_and_the_connection_is_closed() -> None:
    async with connected(ScriptedRelay(silent=True), wait_s=0.3) as client:
        with anyio.fail_after(5), pytest.raises(aiosmtplib.SMTPTimeoutError):
            await send(client)
        assert not client.is_connected and client.protocol is None


async def test_replies_that_do_not_parse_close_the_connection() -> None:
    relay = ScriptedRelay(replies={b"RCPT": b"what?"})
    async with connected(relay) as client:
        with anyio.fail_after(5), pytest.raises(aiosmtplib.SMTPResponseException):
            await send(client)
        assert not client.is_connected
