-- SQLite's randomness (randomblob) is its own CSPRNG: 128 bits for each existing order.
UPDATE orders SET secret = lower(hex(randomblob(16))) WHERE secret IS NULL;
