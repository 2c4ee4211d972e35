-- News for staff (issue 17, part 7): announcements with a publish window, targeted at offices and roles, with read
-- receipts. Written only by actors/news. No row in news_offices: every office; no target role: every role. A
-- withdrawn announcement is kept (its receipts and audit stay), shown to nobody. The Markdown (or plain text) an
-- author wrote is kept beside the sanitised HTML made of it once, when it was saved. (0017 and 0019 are others'.)
-- depends: 0016_adapter_settings

CREATE TABLE news (
    id            uuid PRIMARY KEY,
    title_el      text NOT NULL CHECK (char_length(title_el) BETWEEN 1 AND 200),
    title_en      text CHECK (char_length(title_en) BETWEEN 1 AND 200),
    format        text NOT NULL CHECK (format IN ('text', 'markdown')),
    body_el       text NOT NULL CHECK (char_length(body_el) BETWEEN 1 AND 20000),
    body_en       text CHECK (char_length(body_en) BETWEEN 1 AND 20000),
    html_el       text NOT NULL,
    html_en       text,
    publish_at    timestamptz NOT NULL,
    expire_at     timestamptz CHECK (expire_at > publish_at),
    pinned        boolean NOT NULL DEFAULT false,
    roles         text[] NOT NULL DEFAULT '{}' CHECK (roles <@ ARRAY['employee', 'supervisor', 'administrator']),
    author        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    withdrawn_at  timestamptz,
    withdrawn_by  text
);
-- the feed: what is published, pinned first, newest first
CREATE INDEX news_feed_idx ON news (pinned DESC, publish_at DESC, id DESC) WHERE withdrawn_at IS NULL;
CREATE INDEX news_author_idx ON news (author, created_at DESC);

CREATE TABLE news_offices (
    news_id    uuid NOT NULL REFERENCES news (id) ON DELETE CASCADE,
    office_id  uuid NOT NULL REFERENCES offices (id),
    PRIMARY KEY (news_id, office_id)
);
CREATE INDEX news_offices_office_idx ON news_offices (office_id, news_id);

-- read receipts: the first time a user read it, once
CREATE TABLE news_reads (
    news_id  uuid NOT NULL REFERENCES news (id) ON DELETE CASCADE,
    subject  text NOT NULL,
    read_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (news_id, subject)
);
CREATE INDEX news_reads_subject_idx ON news_reads (subject, news_id);
