-- What an application's Idempotency-Key protects: a hash of its `application` part and its files. A repeat of the
-- key with another request is refused (422) instead of answered with the first application. Rows from before have
-- none: any repeat of theirs is answered as before.
-- depends: 0032_form_translations

ALTER TABLE eugo_applications ADD COLUMN request_fingerprint text;
