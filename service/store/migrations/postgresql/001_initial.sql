-- PostgreSQL hands out ticket numbers from a sequence; SQLite takes MAX(number) + 1
-- inside its single writer's transaction.
CREATE SEQUENCE ticket_numbers;
