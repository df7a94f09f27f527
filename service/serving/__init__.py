"""Running maildesk from its options: what `maildesk serve` and `maildesk demo` do.

    options.py   the serve options (flags and MAILDESK_* variables) and the Settings they make
    run.py       serve(): the listener, web server, scheduler and outbox in one task group
    banner.py    what serve prints when it is ready

Apart from the `maildesk` command (`service.cli`) so that the benchmark and
the tests can start maildesk exactly as the command does without importing
the command line itself.
"""
