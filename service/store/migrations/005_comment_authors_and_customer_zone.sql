-- Who wrote each comment, as the email that brought it said: the vendor's copies and page
-- name the agent (issue #15). Comments from the web and the API, and older ones, keep ''.
ALTER TABLE comments ADD COLUMN author_email TEXT NOT NULL DEFAULT '';
ALTER TABLE comments ADD COLUMN author_name TEXT NOT NULL DEFAULT '';

-- The UTC offset (minutes east) of the Date header of the customer's last email on the
-- ticket: the zone the customer reads times in. NULL until such an email names a zone.
ALTER TABLE tickets ADD COLUMN customer_utc_offset INTEGER;
