#!/usr/bin/env python3
"""Grows a real Keyrite journal to N entries for the benchmarks in journal.sh.

The filler is the journal's own first ceremony (from its `ceremony_started` to the
`checkpoint` after its `ceremony_closed`) replayed again and again under fresh ceremony ids:
real event types, real sizes, closed ceremonies with their closing checkpoints. Entries are
written exactly as Keyrite writes them (canonical JSON body, hash chain, `journal_index`,
`journal_node`), so the result verifies. The replayed checkpoint entries have no row in the
stored-checkpoint table (nothing signs them), which `journal verify` reports as a warning.

    journal_fill.py DATA/journal.sqlite 1000000
"""
import hashlib
import json
import sqlite3
import sys

NODE_LEVEL = 8
DOMAIN = b"keyrite-journal/v1\n"


def canonical(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(seq, prev, body):
    return hashlib.sha256(DOMAIN + seq.to_bytes(8, "big") + prev + body).digest()


def fields(body):
    ev = body.get("event") if isinstance(body.get("event"), dict) else {}
    de = body.get("details") if isinstance(body.get("details"), dict) else {}
    kind = ev.get("type") if isinstance(ev.get("type"), str) else ""
    cer = ev.get("ceremony_id") if isinstance(ev.get("ceremony_id"), str) else None
    if cer is None and isinstance(de.get("ceremony_id"), str):
        cer = de["ceremony_id"]
    return kind, cer


def main():
    db, target = sys.argv[1], int(sys.argv[2])
    con = sqlite3.connect(db)
    # A Keyrite from before these tables ignores them; create them so the filler is the same.
    con.executescript("""
        CREATE TABLE IF NOT EXISTS journal_index(seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, ceremony_id TEXT);
        CREATE INDEX IF NOT EXISTS journal_index_kind ON journal_index(kind, seq);
        CREATE INDEX IF NOT EXISTS journal_index_ceremony ON journal_index(ceremony_id, seq)
            WHERE ceremony_id IS NOT NULL;
        CREATE TABLE IF NOT EXISTS journal_node(level INTEGER NOT NULL, idx INTEGER NOT NULL,
            hash BLOB NOT NULL, PRIMARY KEY(level, idx)) WITHOUT ROWID;
    """)
    # Index rows for the entries a Keyrite without the index wrote.
    for seq, body in con.execute("SELECT seq, body FROM journal_entry WHERE seq NOT IN (SELECT seq FROM journal_index)").fetchall():
        kind, cer = fields(json.loads(body))
        con.execute("INSERT INTO journal_index(seq, kind, ceremony_id) VALUES (?,?,?)", (seq, kind, cer))
    con.commit()
    rows = con.execute("SELECT seq, body, entry_hash FROM journal_entry ORDER BY seq").fetchall()
    bodies = [json.loads(r[1]) for r in rows]
    start = next(i for i, b in enumerate(bodies) if b["event"]["type"] == "ceremony_started")
    cid = bodies[start]["event"]["ceremony_id"]
    close = next(i for i, b in enumerate(bodies) if i > start and b["event"]["type"] == "ceremony_closed"
                 and b["event"].get("ceremony_id") == cid)
    end = next(i for i, b in enumerate(bodies) if i > close and b["event"]["type"] == "checkpoint")
    template = [json.dumps(b) for b in bodies[start:end + 1]]
    seq = rows[-1][0] + 1
    prev = rows[-1][2]
    t0 = bodies[-1]["time"]
    prefix = cid[: cid.rfind("-") + 1]
    n = 0
    total_bytes = 0
    batch_e, batch_i = [], []
    while seq < target:
        new_id = f"{prefix}{n:012x}"
        n += 1
        for text in template:
            if seq >= target:
                break
            b = json.loads(text.replace(cid, new_id))
            b["seq"] = seq
            b["time"] = t0  # equal times are allowed; never earlier than the real tail
            if b["event"]["type"] == "checkpoint":
                b["event"]["size"] = seq
            body = canonical(b)
            h = entry_hash(seq, prev, body)
            kind, cer = fields(b)
            batch_e.append((seq, body, prev, h))
            batch_i.append((seq, kind, cer))
            total_bytes += len(body)
            prev = h
            seq += 1
        if len(batch_e) >= 50_000 or seq >= target:
            con.executemany("INSERT INTO journal_entry(seq, body, prev_hash, entry_hash) VALUES (?,?,?,?)", batch_e)
            con.executemany("INSERT OR REPLACE INTO journal_index(seq, kind, ceremony_id) VALUES (?,?,?)", batch_i)
            con.commit()
            batch_e, batch_i = [], []
    # The stored subtree nodes over the whole journal, as Keyrite keeps them.
    con.execute("DELETE FROM journal_node")
    level_nodes = []
    for (h,) in con.execute("SELECT entry_hash FROM journal_entry ORDER BY seq"):
        level_nodes.append(hashlib.sha256(b"\x00" + h).digest())
    level = 0
    nodes = []
    while len(level_nodes) >= 2:
        nxt = [hashlib.sha256(b"\x01" + level_nodes[i] + level_nodes[i + 1]).digest()
               for i in range(0, len(level_nodes) - 1, 2)]
        level += 1
        if level >= NODE_LEVEL:
            nodes.extend((level, i, h) for i, h in enumerate(nxt))
        level_nodes = nxt
    con.executemany("INSERT INTO journal_node(level, idx, hash) VALUES (?,?,?)", nodes)
    con.commit()
    added = seq - (rows[-1][0] + 1)
    print(f"journal_fill: {added} entries added ({n} replayed ceremonies), "
          f"{total_bytes / max(added, 1):.0f} bytes per body on average; {seq} entries in all")


if __name__ == "__main__":
    main()
