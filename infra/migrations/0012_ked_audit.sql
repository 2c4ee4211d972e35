-- ΚΕΔ calls: the audit transaction id of each (from a sequence: increasing, never handed out twice, even after a
-- crash), who asked for which ΑΦΜ (hashed: the audit proves the call, it is not a copy of the register), and what
-- came back.
-- depends: 0011_generated_documents

CREATE SEQUENCE ked_audit_transaction_seq;

CREATE TABLE ked_audit (
    transaction_id    bigint PRIMARY KEY,
    audit_unit        text NOT NULL,
    afm_sha256        text NOT NULL CHECK (afm_sha256 ~ '^[0-9a-f]{64}$'),
    on_behalf_of      text NOT NULL,
    asked_at          timestamptz NOT NULL DEFAULT now(),
    answered_at       timestamptz,
    outcome           text,
    call_sequence_id  bigint
);
