-- Endpoints and credentials of the delivery adapters as administrators set them, per environment (over the
-- KEP_KED_*, KEP_MAILBOX_*, KEP_KSHDE_* settings): what is not secret as JSON, the secrets encrypted with
-- KEP_CONFIG_KEY (Fernet), never shown again. Each save bumps `version`, which the delivery workers compare to
-- know when to build their adapters anew. (0015 is the delivery readers'.)
-- depends: 0014_kshde_org_chart

CREATE TABLE adapter_settings (
    environment  text NOT NULL,
    adapter      text NOT NULL,
    "values"     jsonb NOT NULL DEFAULT '{}',
    secrets      bytea,
    version      bigint NOT NULL,
    updated_by   text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment, adapter)
);
CREATE SEQUENCE adapter_settings_version_seq;
