-- Attachment limits per procedure (local fields an administrator sets; NULL: the system's defaults), and one
-- document per id whatever retries do.
-- depends: 0007_case_identifier_lookup

ALTER TABLE procedures
    ADD COLUMN attachment_max_mb integer CHECK (attachment_max_mb BETWEEN 1 AND 100),
    ADD COLUMN attachment_types text[];
