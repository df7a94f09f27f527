-- Timers and outbox rows say which record they belong to (a ticket today, a subscription
-- next), so the one scheduler and the one outbox serve every kind of record (issue #14).
-- The outbox also says which channel a row travels by: an email or a webhook.

CREATE TABLE timers_by_record (
    record_kind   TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    event         TEXT NOT NULL,
    due_at        TIMESTAMPTZ NOT NULL,
    claimed_until TIMESTAMPTZ,
    PRIMARY KEY (record_kind, record_id)
);
INSERT INTO timers_by_record (record_kind, record_id, event, due_at, claimed_until)
    SELECT 'ticket', ticket_number::text, event, due_at, claimed_until FROM timers;
DROP TABLE timers;
ALTER TABLE timers_by_record RENAME TO timers;
ALTER INDEX timers_by_record_pkey RENAME TO timers_pkey;
CREATE INDEX timers_by_due ON timers (due_at);

ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';
ALTER TABLE outbox ADD COLUMN record_kind TEXT;
ALTER TABLE outbox ADD COLUMN record_id TEXT;
UPDATE outbox SET record_kind = 'ticket', record_id = ticket_number::text
    WHERE ticket_number IS NOT NULL;
UPDATE outbox SET channel = 'webhook', kind = payload::json ->> 'event' WHERE kind = 'webhook';
DROP INDEX outbox_by_ticket;
ALTER TABLE outbox DROP COLUMN ticket_number;
CREATE INDEX outbox_by_record ON outbox (record_kind, record_id);
