// The statements of the PostgreSQL store's hot path, named so tests can EXPLAIN exactly what the
// store runs (and check that each is an index range scan, not a table scan).
#pragma once

#include <string>

namespace signer::store::pg::sql {

// One page of a batch's shard range: $1 shard and $2 id of the cursor, $3 the range's end, $4 the
// record limit, $5 the byte budget. The page is cut on the server at the byte budget (a running
// sum over the page in index order), so a chunk of large messages never crosses the network, nor
// sits in memory, whole. The fourth column is how many rows the page had before the cut: a page
// shorter than the limit and not cut reached the end of the range, which only the server can
// tell (its running sum counts rows the reader does not get back as records, e.g. a NULL msg).
inline const std::string kReadUnsigned =
    "SELECT id, msg, shard, page_rows FROM ("
    "  SELECT id, msg, shard, count(*) OVER () AS page_rows, "
    "    sum(octet_length(id) + coalesce(octet_length(msg), 0)) "
    "    OVER (ORDER BY shard, id ROWS UNBOUNDED PRECEDING) "
    "    - (octet_length(id) + coalesce(octet_length(msg), 0)) AS before"
    "  FROM (SELECT id, msg, shard FROM records WHERE (shard, id) > ($1::bigint, $2::text) "
    "        AND shard < $3::bigint ORDER BY shard, id LIMIT $4::bigint) page"
    ") bounded WHERE before < $5::bigint ORDER BY shard, id";

// A chunk of signed records, as the six arrays ($1 id … $6 job_id) one statement takes.
inline const std::string kMoveInput =
    "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
    "$5::text[], $6::text[]) AS t(id, msg, salt, sign, key, job_id)) ";

// The default move: insert the chunk and delete its unsigned copies in one statement.
inline const std::string kMoveOneStatement =
    kMoveInput +
    ", ins AS (INSERT INTO signedrecords (id, msg, salt, sign, key, job_id) "
    "SELECT id, msg, salt, sign, key, job_id FROM input ON CONFLICT (id) DO NOTHING RETURNING 1), "
    "del AS (DELETE FROM records WHERE id = ANY($1::text[]) RETURNING 1) "
    "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM del)";

// The two-statement move (BEGIN; insert; delete; COMMIT), kept for the measurement.
inline const std::string kMoveInsertOnly =
    kMoveInput +
    ", ins AS (INSERT INTO signedrecords (id, msg, salt, sign, key, job_id) "
    "SELECT id, msg, salt, sign, key, job_id FROM input ON CONFLICT (id) DO NOTHING RETURNING 1) "
    "SELECT count(*) FROM ins";

inline const std::string kMoveDeleteOnly = "DELETE FROM records WHERE id = ANY($1::text[])";

// Delete first and insert what was deleted, kept for the measurement.
inline const std::string kMoveDeleteReturning =
    kMoveInput +
    ", moved AS (DELETE FROM records r USING input i WHERE r.id = i.id "
    "RETURNING i.id, i.msg, i.salt, i.sign, i.key, i.job_id), "
    "ins AS (INSERT INTO signedrecords (id, msg, salt, sign, key, job_id) "
    "SELECT id, msg, salt, sign, key, job_id FROM moved ON CONFLICT (id) DO NOTHING RETURNING 1) "
    "SELECT count(*) FROM ins";

}  // namespace signer::store::pg::sql
