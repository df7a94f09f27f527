"""Everything maildesk takes from a library beyond its public API: one module per library.

A library's public API is what it documents or exports (its top-level
names, the names in its `__all__`, the classes and methods of its reference
documentation). Anything else maildesk relies on (an underscored name, a
module the package does not export, an undocumented attribute or
behaviour, code copied from the library) is used in that library's module
here and nowhere else:

- `aiosmtpd`: the SMTP session's deadline, `DATA` read in chunks, the
  handler's time not counted against the client;
- `aiosmtplib`: `DATA` sent as is for messages already in wire form;
- `feedparser`: the standard library's email feed parser, its multipart
  boundary and end-of-part line-end search without a regex compiled or run
  over the whole part (no pin: the Python version is the series, and its
  tests fail when the stdlib stops taking the replacements);
- `jinja`: the keywords Jinja's generated code passes to `Context.call`;
- `mailparser`: mail-parser's structural address scanner;
- `mailparser_reply`: mail-parser-reply's reply and signature patterns;
- `uvicorn`: the HTTP deadlines and connection cap, a server without signals.

Each module's docstring lists every such name and why it is needed;
pyproject.toml pins each library to the series those names were checked
against (`~=`); `tests/adapters/` checks, for the library installed, that
the version is in the pinned series and that every name is still there
with the signature or shape the adapter expects, and points to the tests
of the behaviour built on them. A new release therefore fails a test
naming what moved, instead of changing what maildesk does without a word.
`tests/adapters/test_boundary.py` holds the rest of `service/` to the
public API of the other five libraries (Jinja's extension, node and
context APIs, which `service/outbound/` uses, are documented for that use).

What this package must never do: hold maildesk's own rules where a public
API would serve, or let a private name escape into the rest of `service/`.
"""
