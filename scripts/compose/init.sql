-- Sample batch layer for the local docker-compose stack (docker-compose.yml mounts this file into
-- /docker-entrypoint-initdb.d/, so it runs once, when the postgres volume is first created).
-- The service creates its own serving/staging/checkpoint tables.
CREATE TABLE IF NOT EXISTS batch_layer (
  location            text,
  count_id            bigint,
  sum_followers_count bigint,
  sum_favorite_count  bigint,
  sum_retweet_count   bigint
);

INSERT INTO batch_layer (location, count_id, sum_followers_count, sum_favorite_count, sum_retweet_count) VALUES
  ('London',        120,  345600,  70,  12),
  ('Paris',          85,  210400,  41,   9),
  ('New York',      230,  998000, 150,  47),
  ('Tokyo',          64,  120500,  22,   3),
  ('São Paulo',      31,   45200,   8,   1),
  (NULL,             17,    5100,   2,   0);
