-- What the delivery readers bring in (actors/delivery/reader.py): the citizens' replies from the gov.gr mailbox and
-- the documents other authorities send us through ΚΣΗΔΕ, each kept here once (keyed by the remote side's own id) so
-- that a reader that runs twice records once, and what matches no case waits here for a person.
-- depends: 0014_kshde_org_chart

-- Where an incremental reader stopped (the mailbox's last reply id): the next pass asks for what came after it.
CREATE TABLE delivery_cursors (
    name      text PRIMARY KEY,
    position  text NOT NULL,
    moved_at  timestamptz NOT NULL DEFAULT now()
);

-- Every reply a citizen sent from the gov.gr mailbox. `case_id` NULL: its reference named no case of ours (or the
-- case's citizen is someone else): kept for administrators (GET /api/admin/delivery/replies), never dropped.
CREATE TABLE mailbox_replies (
    id          text PRIMARY KEY,  -- the mailbox's reply id
    afm         text NOT NULL,
    reference   text NOT NULL,     -- the posting's reference: our case number
    body        text NOT NULL,
    received_at timestamptz NOT NULL,
    case_id     uuid REFERENCES cases (id),
    read_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mailbox_replies_unmatched_idx ON mailbox_replies (received_at, id) WHERE case_id IS NULL;

-- Our protocol numbers for what ΚΣΗΔΕ brings (the receipt's LocalReceiptId is this number and the day's date).
CREATE SEQUENCE kshde_receipt_seq;

-- A document (one version of it) from our sector's ΚΣΗΔΕ inbox: protocolled here and acknowledged once
-- (`acknowledged_at`), then the case's: the one whose delivery it answers (`delivery_id`), or the one a supervisor
-- or an administrator chose. Until then (`case_id` NULL) it belongs to no office.
CREATE TABLE kshde_incoming (
    protocol_no         text NOT NULL,
    version             integer NOT NULL CHECK (version > 0),
    sender              text NOT NULL,     -- the SectorCode that sent it
    sender_department   text,
    subject             text,
    related_protocol_no text,              -- the ΚΣΗΔΕ document it answers
    protocol_date       text,              -- as ΚΣΗΔΕ wrote it ("Y-m-d H:i:s")
    record              jsonb NOT NULL,    -- the document as the inbox listed it
    local_receipt_no    bigint NOT NULL UNIQUE,
    local_receipt_id    text NOT NULL UNIQUE,
    received_at         timestamptz NOT NULL DEFAULT now(),
    stored_at           timestamptz,       -- every file of it is in the object store
    acknowledged_at     timestamptz,
    receipt_id          text,              -- ΚΣΗΔΕ's id of our receipt
    delivery_id         uuid REFERENCES deliveries (id),
    case_id             uuid REFERENCES cases (id),
    office_id           uuid,
    attached_by         text,              -- system:delivery (matched), or the person who chose the case
    attached_at         timestamptz,       -- its files are the case's documents
    PRIMARY KEY (protocol_no, version),
    CHECK ((case_id IS NULL) = (office_id IS NULL)),
    CHECK (attached_at IS NULL OR case_id IS NOT NULL)
);
CREATE INDEX kshde_incoming_unmatched_idx ON kshde_incoming (received_at, protocol_no, version) WHERE case_id IS NULL;
CREATE INDEX kshde_incoming_unfinished_idx ON kshde_incoming (received_at)
    WHERE stored_at IS NULL OR acknowledged_at IS NULL OR (case_id IS NOT NULL AND attached_at IS NULL);
CREATE INDEX kshde_incoming_case_idx ON kshde_incoming (case_id);
CREATE INDEX kshde_incoming_office_idx ON kshde_incoming (office_id, attached_at) WHERE office_id IS NOT NULL;

-- The files of an incoming document: its content (ordinal 0) and its attachments in ΚΣΗΔΕ's order. Each becomes one
-- case document, whose id is derived from (protocol number, version, ordinal); its bytes wait under `storage_key`.
CREATE TABLE kshde_incoming_files (
    protocol_no   text NOT NULL,
    version       integer NOT NULL,
    ordinal       integer NOT NULL CHECK (ordinal >= 0),
    attachment_id text,
    document_id   uuid NOT NULL UNIQUE,
    file_name     text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL,
    sha256        text NOT NULL,
    storage_key   text NOT NULL,
    PRIMARY KEY (protocol_no, version, ordinal),
    FOREIGN KEY (protocol_no, version) REFERENCES kshde_incoming (protocol_no, version)
);

-- the ΚΣΗΔΕ reader matches a document to the delivery it answers by that delivery's protocol number
CREATE INDEX deliveries_remote_ref_idx ON deliveries (channel, remote_ref);
