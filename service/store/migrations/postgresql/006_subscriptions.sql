-- gen_random_uuid() (PostgreSQL 13+) draws on the server's strong random source.
UPDATE orders SET secret = replace(gen_random_uuid()::text, '-', '') WHERE secret IS NULL;
