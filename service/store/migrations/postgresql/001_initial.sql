-- maildesk schema, version 1 (PostgreSQL).
-- Times are timestamptz; money is numeric; never floating point.

CREATE TABLE vendors (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    account_email   TEXT NOT NULL,
    support_email   TEXT,
    agent_emails    TEXT NOT NULL DEFAULT '[]',
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    policy_category TEXT NOT NULL DEFAULT 'no_restrictions',
    policy_days     INTEGER,
    api_key         TEXT NOT NULL UNIQUE,
    webhook_url     TEXT,
    abusing         BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE customers (
    vendor_id TEXT NOT NULL REFERENCES vendors(id),
    email     TEXT NOT NULL,
    name      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (vendor_id, email)
);

CREATE TABLE products (
    sku       TEXT PRIMARY KEY,
    vendor_id TEXT NOT NULL REFERENCES vendors(id),
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    price     NUMERIC NOT NULL,
    currency  TEXT NOT NULL,
    interval  TEXT
);

CREATE TABLE orders (
    reference           TEXT PRIMARY KEY,
    vendor_id           TEXT NOT NULL REFERENCES vendors(id),
    customer_email      TEXT NOT NULL,
    payment_method      TEXT NOT NULL,
    purchased_at        TIMESTAMPTZ NOT NULL,
    license_key         TEXT,
    download_url        TEXT,
    subscription_status TEXT,
    FOREIGN KEY (vendor_id, customer_email) REFERENCES customers(vendor_id, email)
);
CREATE INDEX orders_by_customer ON orders (customer_email);
CREATE INDEX orders_by_vendor ON orders (vendor_id);

CREATE TABLE order_items (
    order_reference TEXT NOT NULL REFERENCES orders(reference),
    line            INTEGER NOT NULL,
    sku             TEXT NOT NULL REFERENCES products(sku),
    quantity        INTEGER NOT NULL,
    unit_price      NUMERIC NOT NULL,
    PRIMARY KEY (order_reference, line)
);

CREATE TABLE bills (
    order_reference TEXT NOT NULL REFERENCES orders(reference),
    billed_at       TIMESTAMPTZ NOT NULL,
    amount          NUMERIC NOT NULL,
    refunded_at     TIMESTAMPTZ,
    PRIMARY KEY (order_reference, billed_at)
);

CREATE TABLE tickets (
    number            BIGINT PRIMARY KEY,
    vendor_id         TEXT NOT NULL REFERENCES vendors(id),
    order_reference   TEXT NOT NULL REFERENCES orders(reference),
    customer_email    TEXT NOT NULL,
    type              TEXT NOT NULL,
    status            TEXT NOT NULL,
    opened_by         TEXT NOT NULL,
    opened_at         TIMESTAMPTZ NOT NULL,
    last_activity_at  TIMESTAMPTZ NOT NULL,
    waiting_on        TEXT NOT NULL,
    warnings_sent     INTEGER NOT NULL DEFAULT 0,
    awaiting_approval BOOLEAN NOT NULL DEFAULT FALSE,
    vendor_saved_at   TIMESTAMPTZ,
    escalated_at      TIMESTAMPTZ,
    closed_at         TIMESTAMPTZ,
    close_reason      TEXT,
    thread_token      TEXT NOT NULL
);
CREATE INDEX tickets_by_vendor_status ON tickets (vendor_id, status);
CREATE INDEX tickets_by_order ON tickets (order_reference, status);

-- At most one pending timed event per ticket; the scheduler reads it by due time.
CREATE TABLE timers (
    ticket_number BIGINT PRIMARY KEY REFERENCES tickets(number),
    event         TEXT NOT NULL,
    due_at        TIMESTAMPTZ NOT NULL,
    claimed_until TIMESTAMPTZ
);
CREATE INDEX timers_by_due ON timers (due_at);

CREATE TABLE comments (
    id            BIGSERIAL PRIMARY KEY,
    ticket_number BIGINT NOT NULL REFERENCES tickets(number),
    seq           INTEGER NOT NULL,
    author        TEXT NOT NULL,
    text          TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    UNIQUE (ticket_number, seq)
);

CREATE TABLE attachments (
    id           BIGSERIAL PRIMARY KEY,
    comment_id   BIGINT NOT NULL REFERENCES comments(id),
    blob_id      TEXT NOT NULL UNIQUE,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    data         BYTEA NOT NULL
);
CREATE INDEX attachments_by_comment ON attachments (comment_id);

CREATE TABLE ticket_events (
    id            BIGSERIAL PRIMARY KEY,
    ticket_number BIGINT NOT NULL REFERENCES tickets(number),
    seq           INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    by_party      TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    detail        TEXT NOT NULL DEFAULT '{}',
    UNIQUE (ticket_number, seq)
);

CREATE TABLE escalations (
    id            BIGSERIAL PRIMARY KEY,
    ticket_number BIGINT NOT NULL REFERENCES tickets(number),
    vendor_id     TEXT NOT NULL REFERENCES vendors(id),
    at            TIMESTAMPTZ NOT NULL,
    reason        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX escalations_by_vendor ON escalations (vendor_id);

-- Notifications waiting to be sent, written in the transaction of the event that caused them.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    ticket_number   BIGINT REFERENCES tickets(number),
    kind            TEXT NOT NULL,
    party           TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    to_name         TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL UNIQUE,
    thread_root     TEXT,
    payload         TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until   TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbox_by_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_ticket ON outbox (ticket_number);

-- Every inbound message as received, kept beside what was made of it.
CREATE TABLE inbound_messages (
    id            BIGSERIAL PRIMARY KEY,
    received_at   TIMESTAMPTZ NOT NULL,
    mail_from     TEXT NOT NULL,
    rcpt_to       TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    body_hash     TEXT NOT NULL,
    raw           BYTEA NOT NULL,
    status        TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '',
    ticket_number BIGINT,
    opened_ticket BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (message_id, rcpt_to, body_hash)
);
CREATE INDEX inbound_by_sender ON inbound_messages (mail_from, received_at);

CREATE TABLE bouncing_addresses (
    address    TEXT PRIMARY KEY,
    since      TIMESTAMPTZ NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE SEQUENCE ticket_numbers;
