-- Initial schema of the WhatsApp gateway backend (see shared/spec/data-model.md).
-- PostgreSQL 15, no extensions. Every table, enum, index and constraint of the data model is
-- created here; later migrations add columns/tables but never edit this file.
-- updated_at columns are set by the application (no triggers).

-- +goose Up

-- ---------------------------------------------------------------------------------------------
-- Enums (spelled exactly as on the wire)
-- ---------------------------------------------------------------------------------------------

CREATE TYPE user_role AS ENUM ('USER', 'ADMINISTRATOR');
CREATE TYPE user_tier AS ENUM ('BASIC', 'PRO', 'MAX');
CREATE TYPE session_status AS ENUM ('INIT', 'QR_REQUIRED', 'CONNECTED', 'DISCONNECTED', 'RECONNECTING', 'ERROR');
CREATE TYPE worker_status AS ENUM ('ONLINE', 'OFFLINE', 'MAINTENANCE');
CREATE TYPE worker_environment AS ENUM ('DEVELOPMENT', 'STAGING', 'TESTING', 'PRODUCTION');
CREATE TYPE message_direction AS ENUM ('INBOUND', 'OUTBOUND');
CREATE TYPE message_type AS ENUM ('TEXT', 'IMAGE', 'DOCUMENT', 'AUDIO', 'VIDEO', 'STICKER', 'LOCATION', 'CONTACT', 'LINK', 'POLL', 'REACTION');
CREATE TYPE message_status AS ENUM ('QUEUED', 'PENDING', 'SENT', 'DELIVERED', 'READ', 'FAILED', 'CANCELLED');
CREATE TYPE webhook_delivery_status AS ENUM ('PENDING', 'DELIVERED', 'FAILED', 'RETRYING');
CREATE TYPE log_level AS ENUM ('ERROR', 'WARN', 'INFO', 'DEBUG');

-- ---------------------------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------------------------

-- users: dashboard accounts (tenants); own sessions, keys, messages and webhooks.
CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text        NOT NULL,
    email         text        NOT NULL,
    password_hash text        NOT NULL,                 -- bcrypt
    role          user_role   NOT NULL DEFAULT 'USER',
    tier          user_tier   NOT NULL DEFAULT 'BASIC',
    is_active     boolean     NOT NULL DEFAULT true,
    token_version integer     NOT NULL DEFAULT 0,       -- bumped to revoke every JWT of the user
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 254),
    CONSTRAINT users_token_version_nonneg CHECK (token_version >= 0)
);
-- Email is unique case-insensitively (no citext).
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- workers: registered WhatsApp worker processes that sessions are placed on.
CREATE TABLE workers (
    id                   text               PRIMARY KEY,  -- normalised slug, e.g. worker-01
    endpoint             text               NOT NULL,
    status               worker_status      NOT NULL DEFAULT 'ONLINE',
    max_sessions         integer            NOT NULL DEFAULT 50,
    cpu_usage            double precision,
    memory_usage         double precision,
    version              text,
    environment          worker_environment NOT NULL DEFAULT 'DEVELOPMENT',
    description          text,
    token_hash           text,                            -- SHA-256 of the per-worker token
    last_heartbeat       timestamptz,
    consecutive_failures integer            NOT NULL DEFAULT 0,
    created_at           timestamptz        NOT NULL DEFAULT now(),
    updated_at           timestamptz        NOT NULL DEFAULT now(),
    CONSTRAINT workers_endpoint_key UNIQUE (endpoint),
    CONSTRAINT workers_id_format CHECK (char_length(id) BETWEEN 3 AND 50 AND id ~ '^[a-z0-9-]+$'),
    CONSTRAINT workers_max_sessions_range CHECK (max_sessions BETWEEN 1 AND 1000),
    CONSTRAINT workers_consecutive_failures_nonneg CHECK (consecutive_failures >= 0)
);
CREATE UNIQUE INDEX workers_token_hash_key ON workers (token_hash) WHERE token_hash IS NOT NULL;

-- sessions: one WhatsApp connection of a user, placed on at most one worker.
CREATE TABLE sessions (
    id                text           PRIMARY KEY,         -- normalised lower-case slug
    user_id           uuid           NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    worker_id         text           REFERENCES workers (id) ON DELETE SET NULL,
    name              text           NOT NULL,
    display_name      text,
    phone_number      text,
    status            session_status NOT NULL DEFAULT 'DISCONNECTED',
    qr_code           text,                               -- raw QR string while QR_REQUIRED
    qr_updated_at     timestamptz,
    last_seen_at      timestamptz,
    last_event_at     timestamptz,                        -- timestamp of the last applied worker event
    preserved_until   timestamptz,                        -- failover grace after sessions-preserved
    status_reason     text,
    missed_heartbeats integer        NOT NULL DEFAULT 0,  -- consecutive heartbeats that omitted it
    last_dispatched_at timestamptz,                     -- last async send handed to a worker (pacing)
    created_at        timestamptz    NOT NULL DEFAULT now(),
    updated_at        timestamptz    NOT NULL DEFAULT now(),
    CONSTRAINT sessions_id_format CHECK (char_length(id) BETWEEN 3 AND 100 AND id ~ '^[a-z0-9_-]+$'),
    CONSTRAINT sessions_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT sessions_qr_code_length CHECK (char_length(qr_code) <= 2000),
    CONSTRAINT sessions_missed_heartbeats_nonneg CHECK (missed_heartbeats >= 0)
);
CREATE INDEX sessions_user_id_status_idx ON sessions (user_id, status);
CREATE INDEX sessions_worker_id_status_idx ON sessions (worker_id, status);
CREATE INDEX sessions_status_updated_at_idx ON sessions (status, updated_at);

-- api_keys: the customer API key of a session (one per session), stored hashed (+ encrypted).
CREATE TABLE api_keys (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id     text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    name           text,
    key_hash       text        NOT NULL,                  -- hex SHA-256 of the full key, for lookup
    key_ciphertext bytea,                                 -- AES-256-GCM, NULL when reveal is off
    prefix         text        NOT NULL,                  -- e.g. wg_AbCd
    masked         text        NOT NULL,                  -- e.g. wg_AbCd…WxYz
    is_active      boolean     NOT NULL DEFAULT true,
    last_used      timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    revoked_at     timestamptz,
    CONSTRAINT api_keys_session_id_key UNIQUE (session_id),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);

-- messages: every inbound and outbound WhatsApp message, and the durable async send queue.
CREATE TABLE messages (
    id              uuid              PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id      text              NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    direction       message_direction NOT NULL,
    wa_message_id   text,                                 -- WhatsApp's ID, once the worker gave one
    from_number     text,
    to_number       text,
    message_type    message_type      NOT NULL DEFAULT 'TEXT',
    content         text,
    media_url       text,
    filename        text,
    caption         text,
    payload         jsonb,                                -- full send request / raw inbound event
    status          message_status    NOT NULL DEFAULT 'PENDING',
    error_message   text,
    attempts        integer           NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,                          -- when the dispatcher may try a QUEUED message
    scheduled_at    timestamptz,                          -- requested send time (scheduledAt)
    sent_at         timestamptz,
    delivered_at    timestamptz,
    read_at         timestamptz,
    created_at      timestamptz       NOT NULL DEFAULT now(),
    updated_at      timestamptz       NOT NULL DEFAULT now(),
    CONSTRAINT messages_attempts_nonneg CHECK (attempts >= 0),
    -- NULLs are distinct in a unique constraint, so only messages with a WhatsApp ID set are
    -- deduplicated; any number of rows may still lack one.
    CONSTRAINT messages_session_id_wa_message_id_key UNIQUE (session_id, wa_message_id)
);
-- Keyset paging of a session's history, newest first.
CREATE INDEX messages_session_id_created_at_id_idx ON messages (session_id, created_at DESC, id DESC);
-- Per-session FIFO of queued async sends.
CREATE INDEX messages_queued_session_id_created_at_idx ON messages (session_id, created_at) WHERE status = 'QUEUED';
-- Dispatcher: queued messages that are due.
CREATE INDEX messages_queued_next_attempt_at_idx ON messages (next_attempt_at) WHERE status = 'QUEUED';
-- Time-range analytics and retention.
CREATE INDEX messages_created_at_idx ON messages (created_at);

-- message_events: the status history of each message.
CREATE TABLE message_events (
    id         bigint         GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id uuid           NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    status     message_status NOT NULL,
    at         timestamptz    NOT NULL DEFAULT now(),
    detail     text
);
CREATE INDEX message_events_message_id_at_idx ON message_events (message_id, at);

-- idempotency_keys: first answer to a send per Idempotency-Key and session, pruned after 24 h.
CREATE TABLE idempotency_keys (
    session_id   text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    key          text        NOT NULL,
    request_hash text        NOT NULL,                    -- hash of the request body, to detect reuse with another body
    message_id   uuid        REFERENCES messages (id) ON DELETE SET NULL,
    response     jsonb,
    status_code  integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (session_id, key),
    CONSTRAINT idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
-- Supports the ON DELETE SET NULL from messages (e.g. message retention).
CREATE INDEX idempotency_keys_message_id_idx ON idempotency_keys (message_id) WHERE message_id IS NOT NULL;

-- worker_metrics: heartbeat metric samples per worker (history, pruned after retention).
CREATE TABLE worker_metrics (
    id            bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    worker_id     text             NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    cpu_usage     double precision,
    memory_usage  double precision,
    session_count integer,
    message_count bigint,
    uptime        double precision,                       -- seconds, as reported by the worker
    recorded_at   timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX worker_metrics_worker_id_recorded_at_idx ON worker_metrics (worker_id, recorded_at DESC);
CREATE INDEX worker_metrics_recorded_at_idx ON worker_metrics (recorded_at);

-- webhooks: the customer webhook of a session (at most one per session).
CREATE TABLE webhooks (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id      text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    url             text        NOT NULL,
    events          text[]      NOT NULL DEFAULT '{}',    -- subset of message.received, message.status, session.status, session.qr, or *
    secret          text        NOT NULL,                 -- Standard Webhooks signing secret (whsec_...)
    is_active       boolean     NOT NULL DEFAULT true,
    failure_count   integer     NOT NULL DEFAULT 0,       -- consecutive failed deliveries
    last_delivery   timestamptz,
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhooks_session_id_key UNIQUE (session_id),
    CONSTRAINT webhooks_failure_count_nonneg CHECK (failure_count >= 0)
);

-- webhook_deliveries: durable outbox and log of customer webhook deliveries.
CREATE TABLE webhook_deliveries (
    id            uuid                    PRIMARY KEY DEFAULT gen_random_uuid(),
    webhook_id    uuid                    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event         text                    NOT NULL,
    payload       jsonb                   NOT NULL,
    status        webhook_delivery_status NOT NULL DEFAULT 'PENDING',
    response_code integer,
    response_body text,                                   -- truncated by the application
    attempts      integer                 NOT NULL DEFAULT 0,
    next_retry    timestamptz,
    last_error    text,
    created_at    timestamptz             NOT NULL DEFAULT now(),
    delivered_at  timestamptz,
    CONSTRAINT webhook_deliveries_attempts_nonneg CHECK (attempts >= 0)
);
CREATE INDEX webhook_deliveries_webhook_id_created_at_id_idx ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_due_next_retry_idx ON webhook_deliveries (next_retry) WHERE status IN ('PENDING', 'RETRYING');

-- system_logs: important system events for admins (not access logs); no FKs, it outlives its subjects.
CREATE TABLE system_logs (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    level      log_level   NOT NULL,
    service    text        NOT NULL,
    message    text        NOT NULL,
    details    jsonb,
    user_id    uuid,
    session_id text,
    worker_id  text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX system_logs_created_at_id_idx ON system_logs (created_at DESC, id DESC);
CREATE INDEX system_logs_level_created_at_idx ON system_logs (level, created_at DESC);
CREATE INDEX system_logs_session_id_created_at_idx ON system_logs (session_id, created_at DESC) WHERE session_id IS NOT NULL;
CREATE INDEX system_logs_worker_id_created_at_idx ON system_logs (worker_id, created_at DESC) WHERE worker_id IS NOT NULL;

-- usage_records: hourly usage counters per user (and session) for analytics and reports.
-- session_id and api_key_id have no FK so usage survives deletion of sessions and keys.
CREATE TABLE usage_records (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id text,
    api_key_id uuid,
    kind       text        NOT NULL,
    count      bigint      NOT NULL DEFAULT 0,
    bucket     timestamptz NOT NULL,                      -- start of the hour (truncated in UTC by the application)
    CONSTRAINT usage_records_kind_check CHECK (kind IN ('message', 'api_call')),
    CONSTRAINT usage_records_count_nonneg CHECK (count >= 0),
    -- NULLS NOT DISTINCT: user-level rows without a session still upsert into one row per hour.
    CONSTRAINT usage_records_user_session_kind_bucket_key UNIQUE NULLS NOT DISTINCT (user_id, session_id, kind, bucket)
);
CREATE INDEX usage_records_bucket_idx ON usage_records (bucket);

-- refresh_tokens: hashed, single-use, rotated refresh tokens; a family is one login's chain.
CREATE TABLE refresh_tokens (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text        NOT NULL,                      -- SHA-256
    family_id  uuid        NOT NULL,                      -- all tokens descended from one login
    access_jti text,                                      -- jti of the JWT issued with it
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);

-- revoked_tokens: JWTs revoked before their expiry (logout), by jti; pruned once expired.
-- Kept in Postgres, not Redis, so that losing Redis never brings a revoked token back.
CREATE TABLE revoked_tokens (
    jti        text        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);

-- password_resets: hashed, single-use password reset tokens (1 h).
CREATE TABLE password_resets (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text        NOT NULL,                      -- SHA-256
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT password_resets_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX password_resets_user_id_idx ON password_resets (user_id);

-- system_settings: flags shared by all backend replicas (e.g. maintenance mode).
CREATE TABLE system_settings (
    key        text        PRIMARY KEY,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down

DROP TABLE IF EXISTS system_settings;
DROP TABLE IF EXISTS password_resets;
DROP TABLE IF EXISTS revoked_tokens;
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS usage_records;
DROP TABLE IF EXISTS system_logs;
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhooks;
DROP TABLE IF EXISTS worker_metrics;
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS message_events;
DROP TABLE IF EXISTS messages;
DROP TABLE IF EXISTS api_keys;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS workers;
DROP TABLE IF EXISTS users;

DROP TYPE IF EXISTS log_level;
DROP TYPE IF EXISTS webhook_delivery_status;
DROP TYPE IF EXISTS message_status;
DROP TYPE IF EXISTS message_type;
DROP TYPE IF EXISTS message_direction;
DROP TYPE IF EXISTS worker_environment;
DROP TYPE IF EXISTS worker_status;
DROP TYPE IF EXISTS session_status;
DROP TYPE IF EXISTS user_tier;
DROP TYPE IF EXISTS user_role;
