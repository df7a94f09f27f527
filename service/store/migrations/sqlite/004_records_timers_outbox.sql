-- Timers and outbox rows say which record they belong to (a ticket today, a subscription
-- next), so the one scheduler and the one outbox serve every kind of record (issue #14).
-- The outbox also says which channel a row travels by: an email or a webhook.

CREATE TABLE timers_by_record (
    record_kind   TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    event         TEXT NOT NULL,
    due_at        TEXT NOT NULL,
    claimed_until TEXT,
    PRIMARY KEY (record_kind, record_id)
);
INSERT INTO timers_by_record (record_kind, record_id, event, due_at, claimed_until)
    SELECT 'ticket', CAST(ticket_number AS TEXT), event, due_at, claimed_until FROM timers;
DROP TABLE timers;
ALTER TABLE timers_by_record RENAME TO timers;
CREATE INDEX timers_by_due ON timers (due_at);

CREATE TABLE outbox_by_channel (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL DEFAULT 'email',
    record_kind     TEXT,
    record_id       TEXT,
    kind            TEXT NOT NULL,
    party           TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    to_name         TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL UNIQUE,
    thread_root     TEXT,
    payload         TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_until   TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
INSERT INTO outbox_by_channel (id, channel, record_kind, record_id, kind, party, to_address,
        to_name, message_id, thread_root, payload, status, attempts, next_attempt_at,
        claimed_until, last_error, created_at, sent_at)
    SELECT id,
           CASE WHEN kind = 'webhook' THEN 'webhook' ELSE 'email' END,
           CASE WHEN ticket_number IS NULL THEN NULL ELSE 'ticket' END,
           CAST(ticket_number AS TEXT),
           CASE WHEN kind = 'webhook' THEN json_extract(payload, '$.event') ELSE kind END,
           party, to_address, to_name, message_id, thread_root, payload, status, attempts,
           next_attempt_at, claimed_until, last_error, created_at, sent_at
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_by_channel RENAME TO outbox;
CREATE INDEX outbox_by_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_record ON outbox (record_kind, record_id);
