"""`maildesk bench`: throughput, latency and memory of maildesk, measured side by side.

One run generates its own corpus and catalog, then measures, over SMTP on
loopback with 16 concurrent connections that each reuse their connection:

1. a no-op aiosmtpd server: the listener's own ceiling;
2. an aiosmtpd server that only parses each message with mail-parser: the
   ceiling of the chosen inbound stack (and, for comparison, one that only
   runs maildesk's own `parse_mail`); these run on maildesk's own SMTP
   session and DATA reader, so their ceiling rises with it;
S. the stock stack: aiosmtpd's own `SMTP` class with its own DATA reading,
   plus mail-parser, sharing no code with maildesk (`stock`): the yardstick
   maildesk's changes cannot move, which its ratios are reported against;
3. a real `maildesk serve` subprocess on SQLite (`synchronous=FULL`): each
   message acted on and committed before `250`, both notifications queued;
   new tickets, then replies to real notifications, then an open-loop run at
   half the new-ticket peak for latency.

Then outbound delivery (queued notifications rendered and delivered to a
catcher process), the scheduler (many open tickets, many timers due at once,
an idle tick) and memory. Servers run as separate processes, so the load
generator never shares their CPU; every figure comes from the same run, so
ratios between them survive a noisy machine better than absolute numbers.

The last line of output is one JSON object (see `service.bench.report`).
Modules: `corpus` (catalog and mail), `load` (the SMTP load generator),
`servers` (the baseline servers, the catcher and the maildesk subprocess),
`stock` (the stock stack's server),
`outbound`, `scheduler`, `profile` (py-spy summaries), `report`, `cli`.
"""
