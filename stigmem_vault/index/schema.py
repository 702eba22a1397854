"""The index's tables. The index is a cache: any version mismatch means "rebuild from the vault".

Bump SCHEMA_VERSION whenever the DDL or the meaning of a column changes; an index with another
``PRAGMA user_version`` (or one SQLite cannot read) is deleted and rebuilt by a full scan.
"""

from __future__ import annotations

SCHEMA_VERSION = 12

DDL = """
CREATE TABLE files (
    path      TEXT PRIMARY KEY,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    sha256    TEXT,
    status    TEXT NOT NULL,       -- a vault.verify.Verdict value, or 'ignored'
    reason    TEXT NOT NULL,
    fact_id   TEXT,
    blob      TEXT,                -- git blob id of the bytes indexed (NULL: not read)
    settled   INTEGER NOT NULL DEFAULT 0  -- 1: those bytes are the file's at meta git_tree
) WITHOUT ROWID;
CREATE INDEX files_unsettled ON files (path) WHERE settled = 0;
-- The files `stigmem status` lists as problems (Index.file_statuses), without a full scan.
CREATE INDEX files_problems ON files (path) WHERE status NOT IN ('valid', 'note');

-- Every fact version ever seen (a file deleted later keeps its row, with present = 0).
CREATE TABLE facts (
    rowid         INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    entity        TEXT NOT NULL,
    relation      TEXT NOT NULL,
    value_type    TEXT NOT NULL,
    value_json    TEXT NOT NULL,     -- JSON of the typed value's v, for exact reconstruction
    value_text    TEXT NOT NULL,     -- human/FTS rendering
    value_num     REAL,              -- numbers only, for range filters
    source        TEXT NOT NULL,
    hlc           TEXT NOT NULL,
    timestamp     TEXT NOT NULL,
    confidence    REAL NOT NULL,
    trust         TEXT NOT NULL,
    scope         TEXT NOT NULL,
    valid_until   TEXT,
    valid_until_ms INTEGER,
    supersedes    TEXT,
    derived_from  TEXT NOT NULL,     -- JSON list
    signer        TEXT NOT NULL,
    signature     TEXT NOT NULL,
    cid           TEXT NOT NULL,     -- the upstream content id (canonical/cid.py)
    garden_id     TEXT,              -- the garden it belongs to (signed), or NULL
    status        TEXT NOT NULL,     -- verdict of the file it came from
    vouched_by    TEXT,              -- with status 'vouched': the principal that vouched
    path          TEXT,
    present       INTEGER NOT NULL,  -- 1 while a file holds it
    superseded_by TEXT,              -- derived: the fact that replaces it
    live          INTEGER NOT NULL DEFAULT 0,   -- derived: valid, present, not superseded, conf > 0
    contradicted  INTEGER NOT NULL DEFAULT 0    -- derived: part of an open conflict
);
CREATE INDEX facts_key ON facts (entity, relation, scope);
-- (and QUERY_INDEXES below)
CREATE INDEX facts_supersedes ON facts (supersedes) WHERE supersedes IS NOT NULL;

CREATE TABLE derivations (
    fact_id TEXT NOT NULL,
    parent  TEXT NOT NULL,
    PRIMARY KEY (fact_id, parent)
) WITHOUT ROWID;
CREATE INDEX derivations_parent ON derivations (parent);

-- Contentless: it holds only the index of the text it was given (index/recall.searchable:
-- the fields plus the parts of their camelCase words), never read back. Every character
-- that is not a letter or digit separates words, so identifiers are searched by their parts.
CREATE VIRTUAL TABLE facts_fts USING fts5(
    entity, relation, value_text, source,
    content = '',
    tokenize = "unicode61 remove_diacritics 2"
);

CREATE TABLE conflicts (
    id            TEXT PRIMARY KEY,  -- derived from the pair, so a rebuild gives the same id
    entity        TEXT NOT NULL,
    relation      TEXT NOT NULL,
    scope         TEXT NOT NULL,
    fact_a        TEXT NOT NULL,     -- the lower id of the pair
    fact_b        TEXT NOT NULL,
    opened_hlc    TEXT NOT NULL,     -- the later HLC of the pair
    status        TEXT NOT NULL,     -- open | resolved | obsolete
    resolution    TEXT               -- the fact that resolved it, when resolved
) WITHOUT ROWID;
CREATE INDEX conflicts_status ON conflicts (status, opened_hlc);
CREATE INDEX conflicts_key ON conflicts (entity, relation, scope);

-- Running totals, kept by TALLY_TRIGGERS (below) in the same transaction as the rows they count,
-- so that `stigmem status` and change detection do not count a million rows on every run.
-- Keys: files, facts, live, open_conflicts, and scope:<name> (files under facts/<name>/).
-- An INSERT OR REPLACE fires the delete trigger for the row it replaces only with
-- PRAGMA recursive_triggers on, which every connection sets (index/db.py).
CREATE TABLE tallies (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
"""

# Indexes only queries read (indexing never does): a first index of many files creates them
# after its inserts (Index.bulk_load), which costs a sort instead of a B-tree insert per row
# each, and opening an index creates any that a build which stopped midway left missing.
QUERY_INDEXES = {
    "facts_relation": "CREATE INDEX IF NOT EXISTS facts_relation ON facts (relation)",
    "facts_source": "CREATE INDEX IF NOT EXISTS facts_source ON facts (source)",
    "facts_hlc": "CREATE INDEX IF NOT EXISTS facts_hlc ON facts (hlc)",
    "facts_cid": "CREATE INDEX IF NOT EXISTS facts_cid ON facts (cid)",
    "facts_garden": "CREATE INDEX IF NOT EXISTS facts_garden ON facts (garden_id)"
                    " WHERE garden_id IS NOT NULL",
    "facts_ref_target": "CREATE INDEX IF NOT EXISTS facts_ref_target ON facts (value_text)"
                        " WHERE value_type = 'ref'",
}

# The triggers that keep ``tallies``. A first index of many files (Index.bulk_load) goes
# without them, and counts every total once at the end (RECOUNT): a trigger's two upserts per
# row were a third of the cost of inserting it. Opening an index recreates (and recounts) any
# that a load which stopped midway left missing.
TALLY_TRIGGERS = {
    "files_added": """
CREATE TRIGGER IF NOT EXISTS files_added AFTER INSERT ON files BEGIN
    INSERT INTO tallies VALUES ('files', 1) ON CONFLICT (key) DO UPDATE SET n = n + 1;
    INSERT INTO tallies SELECT 'scope:' || substr(new.path, 7, instr(substr(new.path, 7), '/') - 1), 1
        WHERE new.path > 'facts/' AND new.path < 'facts0' AND instr(substr(new.path, 7), '/') > 0
        ON CONFLICT (key) DO UPDATE SET n = n + 1;
END;""",
    "files_removed": """
CREATE TRIGGER IF NOT EXISTS files_removed AFTER DELETE ON files BEGIN
    UPDATE tallies SET n = n - 1 WHERE key = 'files';
    UPDATE tallies SET n = n - 1
        WHERE key = 'scope:' || substr(old.path, 7, instr(substr(old.path, 7), '/') - 1)
        AND old.path > 'facts/' AND old.path < 'facts0' AND instr(substr(old.path, 7), '/') > 0;
END;""",
    "facts_added": """
CREATE TRIGGER IF NOT EXISTS facts_added AFTER INSERT ON facts BEGIN
    INSERT INTO tallies VALUES ('facts', new.present)
        ON CONFLICT (key) DO UPDATE SET n = n + new.present;
    INSERT INTO tallies VALUES ('live', new.live) ON CONFLICT (key) DO UPDATE SET n = n + new.live;
END;""",
    "facts_relived": """
CREATE TRIGGER IF NOT EXISTS facts_relived AFTER UPDATE OF live ON facts WHEN old.live IS NOT new.live BEGIN
    INSERT INTO tallies VALUES ('live', new.live - old.live)
        ON CONFLICT (key) DO UPDATE SET n = n + new.live - old.live;
END;""",
    "facts_placed": """
CREATE TRIGGER IF NOT EXISTS facts_placed AFTER UPDATE OF present ON facts
        WHEN old.present IS NOT new.present BEGIN
    INSERT INTO tallies VALUES ('facts', new.present - old.present)
        ON CONFLICT (key) DO UPDATE SET n = n + new.present - old.present;
END;""",
    "facts_removed": """
CREATE TRIGGER IF NOT EXISTS facts_removed AFTER DELETE ON facts BEGIN
    UPDATE tallies SET n = n - old.present WHERE key = 'facts';
    UPDATE tallies SET n = n - old.live WHERE key = 'live';
END;""",
    "conflicts_added": """
CREATE TRIGGER IF NOT EXISTS conflicts_added AFTER INSERT ON conflicts WHEN new.status = 'open' BEGIN
    INSERT INTO tallies VALUES ('open_conflicts', 1) ON CONFLICT (key) DO UPDATE SET n = n + 1;
END;""",
    "conflicts_restated": """
CREATE TRIGGER IF NOT EXISTS conflicts_restated AFTER UPDATE OF status ON conflicts
        WHEN (old.status = 'open') IS NOT (new.status = 'open') BEGIN
    INSERT INTO tallies VALUES ('open_conflicts', (new.status = 'open') - (old.status = 'open'))
        ON CONFLICT (key) DO UPDATE SET n = n + (new.status = 'open') - (old.status = 'open');
END;""",
    "conflicts_removed": """
CREATE TRIGGER IF NOT EXISTS conflicts_removed AFTER DELETE ON conflicts
        WHEN old.status = 'open' BEGIN
    UPDATE tallies SET n = n - 1 WHERE key = 'open_conflicts';
END;""",
}

# Every total, counted from the rows (what the triggers keep, from nothing). 'facts' counts the
# facts whose files are present: a rebuild never sees the others, and a count must not depend
# on what the cache happened to hold.
RECOUNT = (
    "DELETE FROM tallies",
    "INSERT INTO tallies SELECT 'files', count(*) FROM files",
    "INSERT INTO tallies SELECT 'scope:' || substr(path, 7, instr(substr(path, 7), '/') - 1),"
    " count(*) FROM files WHERE path > 'facts/' AND path < 'facts0'"
    " AND instr(substr(path, 7), '/') > 0 GROUP BY 1",
    "INSERT INTO tallies SELECT 'facts', coalesce(sum(present), 0) FROM facts",
    "INSERT INTO tallies SELECT 'live', coalesce(sum(live), 0) FROM facts",
    "INSERT INTO tallies SELECT 'open_conflicts', count(*) FROM conflicts WHERE status = 'open'",
)

DDL += "".join(f"{sql};\n" for sql in QUERY_INDEXES.values())
DDL += "".join(f"{sql}\n" for sql in TALLY_TRIGGERS.values())
