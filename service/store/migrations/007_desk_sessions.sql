-- The vendor's desk and the operator's console (issue #17): one-time sign-in links and
-- browser sessions. Only SHA-256 hashes of the link tokens and session ids are kept, so
-- a copy of the database (or of a backup) signs nobody in.

CREATE TABLE signin_links (
    token_hash TEXT PRIMARY KEY,
    role       TEXT NOT NULL,             -- 'vendor' | 'operator'
    vendor_id  TEXT REFERENCES vendors(id),
    email      TEXT NOT NULL,             -- where the link was sent
    created_at ${TIME} NOT NULL,
    expires_at ${TIME} NOT NULL,
    used_at    ${TIME}
);
CREATE INDEX signin_links_by_expiry ON signin_links (expires_at);

CREATE TABLE web_sessions (
    id_hash      TEXT PRIMARY KEY,
    role         TEXT NOT NULL,           -- 'vendor' | 'operator'
    vendor_id    TEXT REFERENCES vendors(id),
    email        TEXT NOT NULL,           -- who signed in ('admin token' for the token)
    created_at   ${TIME} NOT NULL,
    last_seen_at ${TIME} NOT NULL,
    ended_at     ${TIME}
);

-- The desk's ticket list: a vendor's tickets by status, newest activity first.
CREATE INDEX tickets_by_vendor_activity ON tickets (vendor_id, status, last_activity_at);

-- The operator's abuse marks on a vendor, as a history: who set or cleared it, and when.
CREATE TABLE abuse_marks (
    id        ${SERIAL_KEY},
    vendor_id TEXT NOT NULL REFERENCES vendors(id),
    abusing   ${FLAG},
    at        ${TIME} NOT NULL,
    by_whom   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX abuse_marks_by_vendor ON abuse_marks (vendor_id, at);
