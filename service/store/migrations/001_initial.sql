-- maildesk schema, version 1, written once for both databases: `${TIME}` and the
-- other placeholders are each dialect's column types (service/store/migrations).
-- Times are timestamptz in PostgreSQL and fixed-width UTC ISO-8601 text in SQLite,
-- so text order is time order; money is numeric or decimal text, never floating point.

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
    abusing         ${FLAG}
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
    price     ${MONEY} NOT NULL,
    currency  TEXT NOT NULL,
    interval  TEXT
);

CREATE TABLE orders (
    reference           TEXT PRIMARY KEY,
    vendor_id           TEXT NOT NULL REFERENCES vendors(id),
    customer_email      TEXT NOT NULL,
    payment_method      TEXT NOT NULL,
    purchased_at        ${TIME} NOT NULL,
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
    unit_price      ${MONEY} NOT NULL,
    PRIMARY KEY (order_reference, line)
);

CREATE TABLE bills (
    order_reference TEXT NOT NULL REFERENCES orders(reference),
    billed_at       ${TIME} NOT NULL,
    amount          ${MONEY} NOT NULL,
    refunded_at     ${TIME},
    PRIMARY KEY (order_reference, billed_at)
);

CREATE TABLE tickets (
    number            ${BIGINT} PRIMARY KEY,
    vendor_id         TEXT NOT NULL REFERENCES vendors(id),
    order_reference   TEXT NOT NULL REFERENCES orders(reference),
    customer_email    TEXT NOT NULL,
    type              TEXT NOT NULL,
    status            TEXT NOT NULL,
    opened_by         TEXT NOT NULL,
    opened_at         ${TIME} NOT NULL,
    last_activity_at  ${TIME} NOT NULL,
    waiting_on        TEXT NOT NULL,
    warnings_sent     INTEGER NOT NULL DEFAULT 0,
    awaiting_approval ${FLAG},
    vendor_saved_at   ${TIME},
    escalated_at      ${TIME},
    closed_at         ${TIME},
    close_reason      TEXT,
    thread_token      TEXT NOT NULL
);
CREATE INDEX tickets_by_vendor_status ON tickets (vendor_id, status);
CREATE INDEX tickets_by_order ON tickets (order_reference, status);

-- At most one pending timed event per ticket; the scheduler reads it by due time.
CREATE TABLE timers (
    ticket_number ${BIGINT} PRIMARY KEY REFERENCES tickets(number),
    event         TEXT NOT NULL,
    due_at        ${TIME} NOT NULL,
    claimed_until ${TIME}
);
CREATE INDEX timers_by_due ON timers (due_at);

CREATE TABLE comments (
    id            ${SERIAL_KEY},
    ticket_number ${BIGINT} NOT NULL REFERENCES tickets(number),
    seq           INTEGER NOT NULL,
    author        TEXT NOT NULL,
    text          TEXT NOT NULL,
    at            ${TIME} NOT NULL,
    UNIQUE (ticket_number, seq)
);

CREATE TABLE attachments (
    id           ${SERIAL_KEY},
    comment_id   ${BIGINT} NOT NULL REFERENCES comments(id),
    blob_id      TEXT NOT NULL UNIQUE,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    data         ${BYTES} NOT NULL
);
CREATE INDEX attachments_by_comment ON attachments (comment_id);

CREATE TABLE ticket_events (
    id            ${SERIAL_KEY},
    ticket_number ${BIGINT} NOT NULL REFERENCES tickets(number),
    seq           INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    by_party      TEXT NOT NULL,
    at            ${TIME} NOT NULL,
    detail        TEXT NOT NULL DEFAULT '{}',
    UNIQUE (ticket_number, seq)
);

CREATE TABLE escalations (
    id            ${SERIAL_KEY},
    ticket_number ${BIGINT} NOT NULL REFERENCES tickets(number),
    vendor_id     TEXT NOT NULL REFERENCES vendors(id),
    at            ${TIME} NOT NULL,
    reason        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX escalations_by_vendor ON escalations (vendor_id);

-- Notifications waiting to be sent, written in the transaction of the event that caused them.
CREATE TABLE outbox (
    id              ${SERIAL_KEY},
    ticket_number   ${BIGINT} REFERENCES tickets(number),
    kind            TEXT NOT NULL,
    party           TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    to_name         TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL UNIQUE,
    thread_root     TEXT,
    payload         TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at ${TIME} NOT NULL,
    claimed_until   ${TIME},
    last_error      TEXT,
    created_at      ${TIME} NOT NULL,
    sent_at         ${TIME}
);
CREATE INDEX outbox_by_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_ticket ON outbox (ticket_number);

-- Every inbound message as received, kept beside what was made of it.
CREATE TABLE inbound_messages (
    id            ${SERIAL_KEY},
    received_at   ${TIME} NOT NULL,
    mail_from     TEXT NOT NULL,
    rcpt_to       TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    body_hash     TEXT NOT NULL,
    raw           ${BYTES} NOT NULL,
    status        TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '',
    ticket_number ${BIGINT},
    opened_ticket ${FLAG},
    UNIQUE (message_id, rcpt_to, body_hash)
);
CREATE INDEX inbound_by_sender ON inbound_messages (mail_from, received_at);

CREATE TABLE bouncing_addresses (
    address    TEXT PRIMARY KEY,
    since      ${TIME} NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
