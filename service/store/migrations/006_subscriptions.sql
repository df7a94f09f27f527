-- Subscriptions, maildesk's second record (SPEC §7, issue #16): the schedule, the items
-- with their pending changes, and the history of bills, failures and the customer's
-- choices. A subscription's timer lives in `timers` like a ticket's.

ALTER TABLE vendors ADD COLUMN renewal_reminder_days INTEGER NOT NULL DEFAULT 7;
ALTER TABLE vendors ADD COLUMN remind_auto_renewals ${FLAG};
ALTER TABLE vendors ADD COLUMN payment_update_url TEXT;

-- The purchase's permanent secret: `/p/<reference>-<secret>` (seed 004). Orders that
-- exist already get one in the dialect's own script.
ALTER TABLE orders ADD COLUMN secret TEXT;

CREATE TABLE subscriptions (
    id              TEXT PRIMARY KEY,
    order_reference TEXT NOT NULL UNIQUE REFERENCES orders(reference),
    vendor_id       TEXT NOT NULL REFERENCES vendors(id),
    secret          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active',
    cancel_reason   TEXT,
    renewal         TEXT NOT NULL,
    interval        TEXT NOT NULL,
    next_billing_at ${TIME} NOT NULL,
    payment_status  TEXT NOT NULL DEFAULT 'ok',
    ends_at         ${TIME},
    reminded_for    ${TIME}
);
CREATE INDEX subscriptions_by_vendor ON subscriptions (vendor_id, id);

CREATE TABLE subscription_items (
    subscription_id      TEXT NOT NULL REFERENCES subscriptions(id),
    number               INTEGER NOT NULL,
    sku                  TEXT NOT NULL REFERENCES products(sku),
    quantity             INTEGER NOT NULL,
    unit_price           ${MONEY} NOT NULL,
    auto_renew           ${FLAG},
    change_unit_price    ${MONEY},
    change_quantity      INTEGER,
    change_needs_consent ${FLAG},
    change_consent       TEXT,
    change_asked_at      ${TIME},
    PRIMARY KEY (subscription_id, number)
);

CREATE TABLE subscription_events (
    id              ${SERIAL_KEY},
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    by_party        TEXT NOT NULL,
    at              ${TIME} NOT NULL,
    detail          TEXT NOT NULL DEFAULT '{}',
    UNIQUE (subscription_id, seq)
);
