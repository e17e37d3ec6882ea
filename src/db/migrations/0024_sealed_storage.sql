-- Sealed content is ciphertext: PostgreSQL's compression can never shrink it, so it is stored out of
-- line without trying (EXTERNAL rather than the default EXTENDED).
ALTER TABLE messages ALTER COLUMN content_sealed SET STORAGE EXTERNAL;
