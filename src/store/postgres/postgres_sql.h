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

// The statements of a move. A chunk of raw records (the original's scheme) sends the original's
// six arrays ($1 id … $6 job_id), exactly as before the schemes existed; a chunk with a scheme
// also sends $7 scheme and $8 digest, stored as NULL where "" (a raw record's).
struct MoveStatements {
  // The default move: insert the chunk and delete its unsigned copies in one statement.
  std::string one_statement;
  // The two-statement move (BEGIN; insert; delete; COMMIT), kept for the measurement.
  std::string insert_only;
  // Delete first and insert what was deleted, kept for the measurement.
  std::string delete_returning;
};

inline MoveStatements move_statements(bool with_scheme) {
  const std::string columns = with_scheme ? "id, msg, salt, sign, key, job_id, scheme, digest"
                                          : "id, msg, salt, sign, key, job_id";
  const std::string values =
      with_scheme ? "id, msg, salt, sign, key, job_id, NULLIF(scheme, ''), NULLIF(digest, '')"
                  : columns;
  const std::string input =
      "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
      "$5::text[], $6::text[]" +
      std::string(with_scheme ? ", $7::text[], $8::text[]" : "") + ") AS t(" + columns + ")) ";
  const std::string insert = "INSERT INTO signedrecords (" + columns + ") SELECT " + values;
  return {input + ", ins AS (" + insert +
              " FROM input ON CONFLICT (id) DO NOTHING RETURNING 1), "
              "del AS (DELETE FROM records WHERE id = ANY($1::text[]) RETURNING 1) "
              "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM del)",
          input + ", ins AS (" + insert +
              " FROM input ON CONFLICT (id) DO NOTHING RETURNING 1) SELECT count(*) FROM ins",
          input +
              ", moved AS (DELETE FROM records r USING input i WHERE r.id = i.id RETURNING i.*), "
              "ins AS (" +
              insert +
              " FROM moved ON CONFLICT (id) DO NOTHING RETURNING 1) SELECT count(*) FROM ins"};
}

inline const MoveStatements kMove = move_statements(false);
inline const MoveStatements kMoveWithScheme = move_statements(true);

inline const std::string kMoveDeleteOnly = "DELETE FROM records WHERE id = ANY($1::text[])";

}  // namespace signer::store::pg::sql
