"""The serving store's tables (SQLAlchemy Core). Alembic migrations under `migrations/` create
them; a test checks the migrations and this file agree.

Accounts, cases, policy history, the audit log and its review, ANPR authorisations, and the
products, explanations and decisions every analysis writes (INTERFACES: "Products,
decisions and explanations").
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from peel.serving.types import JSONText, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    # person: logs in with a password; service: a named identity for batch jobs, no login.
    Column("kind", String(16), nullable=False, default="person"),
    Column("rank", String(64)),
    Column("team", String(64)),
    Column("collar_number", String(32)),
    Column("password_hash", String(255)),
    Column("totp_secret", String(64)),
    Column("totp_enabled", Boolean, nullable=False, default=False),
    # The last TOTP time step accepted: a code is good once (RFC 6238 section 5.2).
    Column("totp_last_step", BigInteger),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("granted_by", String(64), nullable=False),
    Column("approved_by", String(64)),
    Column("granted_at", UTCDateTime, nullable=False),
)

# A grant of a role the policy marks as needing two admins waits here for the second one.
role_requests = Table(
    "role_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("role", String(64), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", UTCDateTime),
    Column("status", String(16), nullable=False, default="pending"),
)

sessions = Table(
    "sessions",
    metadata,
    # Only a hash of the token is stored: a copy of the database gives no live sessions.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("purpose", String(64)),
    Column("case_reference", String(64)),
    Column("justification", String(500)),
)

teams = Table(
    "teams",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("area", String(200)),
    Column("crime_types", JSONText),
)

cases = Table(
    "cases",
    metadata,
    Column("reference", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("status", String(16), nullable=False, default="open"),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

case_members = Table(
    "case_members",
    metadata,
    Column("case_reference", String(64), ForeignKey("cases.reference"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("added_by", String(64), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)

policies = Table(
    "policies",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("policy_version", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("diff", Text, nullable=False),
    Column("approved_by", String(64), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
    Column("source", String(500)),
)

# The audit log: append-only, hash-chained. Every value is text or an integer so that the
# canonical serialisation the hash covers reads back identically from either store.
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("ts", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("actor_role", String(64), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("object_ids", Text, nullable=False),
    Column("query", Text, nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("justification", Text, nullable=False),
    Column("case_reference", String(64), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Index("ix_audit_log_actor_ts", "actor", "ts"),
)

# Subjects and records each entry touched, one row each, so "who consulted this person" is an
# index lookup. Derived from audit_log.object_ids in the same transaction; not hashed itself
# (verify rebuilds it from the chain and reports a difference).
audit_subjects = Table(
    "audit_subjects",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("audit_log.seq"),
        primary_key=True,
    ),
    Column("object_id", String(200), primary_key=True),
    Index("ix_audit_subjects_object_id", "object_id"),
)

audit_reviews = Table(
    "audit_reviews",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sample_id", String(64), nullable=False, index=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("reviewer", String(64), nullable=False),
    Column("verdict", String(32)),
    Column("note", Text),
    Column("drawn_at", UTCDateTime, nullable=False),
    Column("reviewed_at", UTCDateTime),
    UniqueConstraint("sample_id", "seq", name="uq_audit_reviews_sample_seq"),
)

anpr_authorisations = Table(
    "anpr_authorisations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("requester", String(64), nullable=False),
    Column("authoriser", String(64), nullable=False),
    Column("authoriser_rank", String(64), nullable=False),
    Column("investigation_reference", String(64), nullable=False),
    Column("offence_category", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

# An officer's request for access to old ANPR reads (issue 6): pending until an officer of a
# configured rank grants it (creating an anpr_authorisations row) or refuses it; the requester
# may withdraw it while it is pending.
anpr_authorisation_requests = Table(
    "anpr_authorisation_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("requester", String(64), nullable=False, index=True),
    Column("investigation_reference", String(64), nullable=False),
    Column("offence_category", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("days", Integer, nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", UTCDateTime),
    Column("decision_note", Text),
    Column("authorisation_id", Integer),
)

products = Table(
    "products",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("subject_type", String(64), nullable=False),
    Column("subject_ids", JSONText, nullable=False),
    Column("case_reference", String(64)),
    Column("team", String(64)),
    Column("dataset", String(64), nullable=False),
    Column("synthetic", Boolean, nullable=False),
    Column("status", String(16), nullable=False, default="new"),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_products_kind_status", "kind", "status"),
)

explanations = Table(
    "explanations",
    metadata,
    Column("product_id", String(64), ForeignKey("products.id"), primary_key=True),
    Column("claim", Text, nullable=False),
    Column("evidence", JSONText, nullable=False),
    Column("arithmetic", JSONText, nullable=False),
    Column("confidence", Float),
    Column("confidence_text", String(200), nullable=False),
    Column("code_version", String(64), nullable=False),
    Column("model_version", String(64)),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("product_id", String(64), ForeignKey("products.id"), nullable=False, index=True),
    Column("decision", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("decided_by", String(64), nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    # What the person confirmed before marking a lead actioned (issue 6): the read's image
    # reference and OCR confidence they looked at, one entry per read.
    Column("confirmation", JSONText),
)

# Equality monitoring of raised leads (issue 6): the keeper's self-defined ethnicity and age
# band when the lead was raised, kept apart from the product so that only the oversight
# aggregates read it (special-category data, DPA 2018 s.35(8)). "not stated" and "unknown"
# are values, not gaps; a lead with no person keeper (company, hire, possible clone) has
# keeper_kind set and the two bands "not applicable".
lead_monitoring = Table(
    "lead_monitoring",
    metadata,
    Column("product_id", String(64), ForeignKey("products.id"), primary_key=True),
    Column("keeper_kind", String(32), nullable=False),
    Column("self_defined_ethnicity", String(64), nullable=False),
    Column("age_band", String(16), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
)

# An analyst's correction of person resolution (issue 5): "merge" says two records are one
# person, "split" that they are not. Record ids are resolution's (`<source>:<record key>`),
# so an override survives reruns; withdrawing one sets withdrawn_at.
resolve_overrides = Table(
    "resolve_overrides",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("record_a", String(300), nullable=False),
    Column("record_b", String(300), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("withdrawn_at", UTCDateTime),
)

# Published profiles (issue 5): `peel publish` writes a document per person profile and per
# vehicle (plate), with a content hash so a rerun writes only what changed. Search keys are
# computed at publish time into ordinary indexed columns, so SQLite and PostgreSQL return the
# same candidates for a check.
person_profiles = Table(
    "person_profiles",
    metadata,
    Column("profile_id", String(64), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("document", JSONText, nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
)

person_search_keys = Table(
    "person_search_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("profile_id", String(64), nullable=False, index=True),
    Column("surname", String(100)),
    Column("forename", String(100)),
    Column("surname_metaphone", String(32)),
    Column("surname_soundex", String(8)),
    Column("forename_metaphone", String(32)),
    # YYYY-MM-DD as recorded, the same with day and month swapped (when both could be a
    # month), and the year.
    Column("dob", String(10)),
    Column("dob_swapped", String(10)),
    Column("birth_year", Integer),
    Index("ix_person_search_keys_surname", "surname"),
    Index("ix_person_search_keys_surname_metaphone", "surname_metaphone"),
    Index("ix_person_search_keys_surname_soundex", "surname_soundex"),
    Index("ix_person_search_keys_dob", "dob"),
    Index("ix_person_search_keys_dob_swapped", "dob_swapped"),
    # A check with a date of birth reads only keys of that birth year or with no date.
    Index("ix_person_search_keys_surname_year", "surname", "birth_year"),
    Index("ix_person_search_keys_surname_metaphone_year", "surname_metaphone", "birth_year"),
    Index("ix_person_search_keys_surname_soundex_year", "surname_soundex", "birth_year"),
)

vehicle_profiles = Table(
    "vehicle_profiles",
    metadata,
    # The plate upper case without spaces: vehicles join by exact plate only.
    Column("vrm", String(16), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("document", JSONText, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
)

# One row per publish: which resolution run, when, and what it changed. A check says "not
# published yet" while this is empty.
publish_runs = Table(
    "publish_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("datasets", JSONText, nullable=False),
    Column("counts", JSONText, nullable=False),
)

# Digital evidence review (issue 7). The case material itself (items, their bytes, the search
# index) lives in files under `evidence/<case>/`; the serving store holds what people did with
# it: the batches as audited (the manifest hash that every read re-checks), the coding
# decisions, who holds which item, what each person has seen, and the searches.
evidence_batches = Table(
    "evidence_batches",
    metadata,
    Column("case_reference", String(64), ForeignKey("cases.reference"), primary_key=True),
    Column("batch", Integer, primary_key=True, autoincrement=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("items", Integer, nullable=False),
    Column("files", JSONText, nullable=False),
    Column("ingested_by", String(64), nullable=False),
    Column("ingested_at", UTCDateTime, nullable=False),
)

evidence_codes = Table(
    "evidence_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_reference", String(64), ForeignKey("cases.reference"), nullable=False),
    Column("item_id", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("reviewer", String(64), nullable=False),
    # relevant, not_relevant or sensitive
    Column("relevance", String(16), nullable=False),
    # the disclosure test: might undermine the prosecution case or assist the accused
    Column("meets_test", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    # how the item reached the reviewer: ranked, elusion, search, second, duplicate
    Column("stage", String(16), nullable=False),
    Column("duplicate_of", Integer),
    Column("coded_at", UTCDateTime, nullable=False),
    Index("ix_evidence_codes_case_item", "case_reference", "item_id"),
)

evidence_leases = Table(
    "evidence_leases",
    metadata,
    Column("case_reference", String(64), ForeignKey("cases.reference"), primary_key=True),
    Column("item_id", Integer, primary_key=True, autoincrement=False),
    Column("reviewer", String(64), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("leased_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

evidence_views = Table(
    "evidence_views",
    metadata,
    Column("case_reference", String(64), ForeignKey("cases.reference"), primary_key=True),
    Column("item_id", Integer, primary_key=True, autoincrement=False),
    Column("username", String(64), primary_key=True),
    # served, search, context or export: how the item first reached this person
    Column("how", String(16), nullable=False),
    Column("first_viewed_at", UTCDateTime, nullable=False),
)

evidence_searches = Table(
    "evidence_searches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_reference", String(64), ForeignKey("cases.reference"), nullable=False),
    Column("username", String(64), nullable=False),
    Column("terms", Text, nullable=False),
    Column("filters", JSONText, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("shown", Integer, nullable=False),
    Column("searched_at", UTCDateTime, nullable=False),
    Index("ix_evidence_searches_case", "case_reference"),
)

# The stopping rule's checks: each knee that fired, its elusion sample and the estimate.
evidence_checks = Table(
    "evidence_checks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_reference", String(64), ForeignKey("cases.reference"), nullable=False),
    Column("reviewed", Integer, nullable=False),
    Column("knee_rank", Integer, nullable=False),
    Column("sample_items", JSONText, nullable=False),
    Column("sample_relevant", Integer),
    Column("estimate", Float),
    Column("low", Float),
    Column("high", Float),
    Column("target", Float, nullable=False),
    Column("status", String(16), nullable=False),  # sampling, reached, not_reached
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Index("ix_evidence_checks_case", "case_reference"),
)

AUDIT_COLUMNS = tuple(c.name for c in audit_log.columns)

__all__ = [
    "AUDIT_COLUMNS",
    "anpr_authorisation_requests",
    "anpr_authorisations",
    "audit_log",
    "audit_reviews",
    "audit_subjects",
    "case_members",
    "cases",
    "decisions",
    "evidence_batches",
    "evidence_checks",
    "evidence_codes",
    "evidence_leases",
    "evidence_searches",
    "evidence_views",
    "explanations",
    "lead_monitoring",
    "metadata",
    "person_profiles",
    "person_search_keys",
    "policies",
    "products",
    "publish_runs",
    "resolve_overrides",
    "role_requests",
    "sessions",
    "teams",
    "user_roles",
    "users",
    "vehicle_profiles",
]
