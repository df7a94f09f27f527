-- Each party's thread root is a secret of its own: a customer reading its copy must not
-- learn the Message-ID that the vendor's mail client answers (issue #13). Tickets opened
-- before this migration keep NULL here; their old roots are never trusted for threading.
ALTER TABLE tickets ADD COLUMN customer_thread_root TEXT;
ALTER TABLE tickets ADD COLUMN vendor_thread_root TEXT;

-- The per-sender limit counts by the identity a message acts as (its From address) as
-- well as by its envelope sender, and counts every new request, whatever came of it.
ALTER TABLE inbound_messages ADD COLUMN sender TEXT NOT NULL DEFAULT '';
ALTER TABLE inbound_messages ADD COLUMN new_request ${FLAG};
UPDATE inbound_messages SET new_request = opened_ticket;
CREATE INDEX inbound_by_from ON inbound_messages (sender, received_at);
