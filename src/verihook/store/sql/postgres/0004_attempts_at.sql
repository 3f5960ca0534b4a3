-- The dashboard's hourly figures read the attempts of a time window (store.attempts_by_hour).
CREATE INDEX attempts_at ON attempts(at);
