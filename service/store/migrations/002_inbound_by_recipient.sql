-- Replies per reply address and hour: the backstop against mail loops with robots
-- that do not mark their mail as automatic.
CREATE INDEX inbound_by_recipient ON inbound_messages (rcpt_to, received_at);
