-- An API key's own rate limit, set by an administrator; null: the default
-- (SEALPOST_RATE_LIMIT_PER_KEY).
ALTER TABLE api_keys
  ADD COLUMN rate_limit_per_minute integer CHECK (rate_limit_per_minute BETWEEN 1 AND 10000000);

