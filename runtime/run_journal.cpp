#include "runtime/run_journal.hpp"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <set>

#include <sqlite3.h>

#include "runtime/error.hpp"

namespace tandem {

namespace {

// PRAGMA application_id: marks the file as a tandem run journal ("TNDJ"), so
// that another application's SQLite file is refused instead of misread.
constexpr int64_t application_id = 0x544E444A;

// The head is the only writer. WAL readers (`tandem audit` while the run
// goes) never block it, but a WAL checkpoint run by a closing reader, or a
// second process writing, holds the lock for a moment. 5 s outlasts such a
// moment by far; past it the call fails with errc::timeout naming the file
// instead of waiting without a deadline.
constexpr int busy_timeout_ms = 5000;

const char* schema_sql = R"(
CREATE TABLE incarnations(
  incarnation  INTEGER PRIMARY KEY,   -- 1, 2, ...: one per head start
  resumed_step INTEGER NOT NULL,      -- checkpoint it started from (0: none)
  started_at   TEXT NOT NULL,         -- UTC, for people reading the file
  finished_ok  INTEGER,               -- NULL until record_finish, then 0/1
  cursor       INTEGER);              -- problems drawn at the finish (NULL: unknown)
CREATE TABLE steps(
  incarnation INTEGER NOT NULL,
  step        INTEGER NOT NULL,
  version     INTEGER NOT NULL,
  voided_by   INTEGER,                -- incarnation that voided it; NULL: live
  PRIMARY KEY (incarnation, step));
-- Group events. step: the step recorded with the event (for consumed: the
-- step that trained the group); NULL when recorded by record_finish.
CREATE TABLE issued(group_id INTEGER NOT NULL, problem_id INTEGER NOT NULL,
                    incarnation INTEGER NOT NULL, step INTEGER);
CREATE TABLE consumed(group_id INTEGER NOT NULL, problem_id INTEGER NOT NULL,
                      incarnation INTEGER NOT NULL, step INTEGER NOT NULL);
CREATE TABLE dropped(group_id INTEGER NOT NULL, problem_id INTEGER NOT NULL,
                     incarnation INTEGER NOT NULL, step INTEGER);
CREATE TABLE outstanding(group_id INTEGER NOT NULL, problem_id INTEGER NOT NULL,
                         incarnation INTEGER NOT NULL, step INTEGER);
)";

struct db_closer {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct statement_finalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using statement_ptr = std::unique_ptr<sqlite3_stmt, statement_finalizer>;

// Ids are unsigned; SQLite integers are signed 64-bit. A bit-cast both ways
// round-trips every value exactly.
int64_t to_sql(uint64_t id) { return static_cast<int64_t>(id); }
uint64_t from_sql(int64_t v) { return static_cast<uint64_t>(v); }

// One result row: integer columns by index.
struct row {
  sqlite3_stmt* s;
  int64_t operator[](int i) const { return sqlite3_column_int64(s, i); }
};

// One SQLite connection; every failure becomes a tandem error naming the file.
class journal_db {
public:
  static caf::expected<journal_db> open(const std::string& path, bool read_only) {
    sqlite3* raw = nullptr;
    int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    journal_db db{path, raw};
    if (rc != SQLITE_OK)
      return db.fail("opening");
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, busy_timeout_ms);
    return db;
  }

  caf::error fail(const std::string& what) const {
    int code = db_ ? sqlite3_errcode(db_.get()) : SQLITE_NOMEM;
    auto kind = code == SQLITE_BUSY || code == SQLITE_LOCKED ? errc::timeout : errc::io_failure;
    return make_error(kind, "journal " + path_ + ": " + what + ": "
                              + (db_ ? sqlite3_errmsg(db_.get()) : "out of memory"));
  }

  caf::error exec(const char* sql, const std::string& what) {
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      return fail(what);
    return caf::none;
  }

  caf::expected<statement_ptr> prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql, -1, &s, nullptr) != SQLITE_OK)
      return fail(std::string{"preparing "} + sql);
    return statement_ptr{s};
  }

  /// Binds `args` to ?1..?n, runs `sql` and calls `on_row` for each row.
  caf::error query(const char* sql, std::initializer_list<int64_t> args,
                   const std::function<void(row)>& on_row) {
    auto s = prepare(sql);
    if (!s)
      return s.error();
    return run(s->get(), args, on_row);
  }

  caf::error run(sqlite3_stmt* s, std::initializer_list<int64_t> args,
                 const std::function<void(row)>& on_row = nullptr) {
    sqlite3_reset(s);
    int i = 1;
    for (auto a : args)
      if (sqlite3_bind_int64(s, i++, a) != SQLITE_OK)
        return fail(std::string{"binding "} + sqlite3_sql(s));
    for (;;) {
      int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE)
        return caf::none;
      if (rc != SQLITE_ROW)
        return fail(std::string{"running "} + sqlite3_sql(s));
      if (on_row)
        on_row(row{s});
    }
  }

  caf::expected<int64_t> query_int(const char* sql, std::initializer_list<int64_t> args = {}) {
    int64_t out = 0;
    if (auto err = query(sql, args, [&](row r) { out = r[0]; }))
      return err;
    return out;
  }

  /// BEGIN (IMMEDIATE for writes: the write lock is taken up front, so a busy
  /// database fails here and not half-way), `body`, COMMIT; ROLLBACK on error.
  caf::error transaction(bool write, const std::function<caf::error()>& body) {
    if (auto err = exec(write ? "BEGIN IMMEDIATE" : "BEGIN", "starting a transaction"))
      return err;
    auto err = body();
    if (!err)
      err = exec("COMMIT", "committing");
    if (err)
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    return err;
  }

  const std::string& path() const { return path_; }

private:
  journal_db(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  std::string path_;
  std::unique_ptr<sqlite3, db_closer> db_;
};

caf::error invalid(const journal_db& db, const std::string& what) {
  return make_error(errc::invalid_argument, "journal " + db.path() + ": " + what);
}

/// Checks that `db` is a tandem journal of a schema this build reads; `fresh`
/// becomes true for an empty database (no tables, no marks).
caf::error check_identity(journal_db& db, bool& fresh) {
  auto app = db.query_int("PRAGMA application_id");
  if (!app)
    return app.error();
  auto version = db.query_int("PRAGMA user_version");
  if (!version)
    return version.error();
  auto tables = db.query_int("SELECT COUNT(*) FROM sqlite_master");
  if (!tables)
    return tables.error();
  fresh = *app == 0 && *version == 0 && *tables == 0;
  if (fresh)
    return caf::none;
  if (*app != application_id)
    return invalid(db, "an SQLite database, but not a tandem run journal (application_id "
                         + std::to_string(*app) + ")");
  if (*version > journal_schema_version)
    return make_error(errc::version_mismatch,
                      "journal " + db.path() + ": schema version " + std::to_string(*version)
                        + " is newer than this build's " + std::to_string(journal_schema_version));
  if (*version < 1)
    return invalid(db, "a tandem run journal without a schema version");
  return caf::none;
}

caf::error create_schema(journal_db& db) {
  return db.transaction(true, [&]() -> caf::error {
    if (auto err = db.exec(schema_sql, "creating the schema"))
      return err;
    auto marks = "PRAGMA application_id = " + std::to_string(application_id)
                 + "; PRAGMA user_version = " + std::to_string(journal_schema_version);
    return db.exec(marks.c_str(), "marking the schema");
  });
}

// Durability. WAL mode with synchronous=NORMAL syncs the log only at WAL
// checkpoints: a commit acknowledged before a power loss can vanish. The head
// writes the checkpoint of step k after record_step(k) returns and resumes
// from it trusting that the journal holds step k; were step k's commit lost,
// its groups would count as untrained and be trained again. FULL syncs the
// log on every commit (one fsync per step, small next to a training step).
caf::error set_durable_wal(journal_db& db) {
  std::string mode;
  auto s = db.prepare("PRAGMA journal_mode = WAL");
  if (!s)
    return s.error();
  auto err = db.run(s->get(), {}, [&](row r) {
    if (auto text = sqlite3_column_text(r.s, 0))
      mode = reinterpret_cast<const char*>(text);
  });
  if (err)
    return err;
  if (mode != "wal")
    return make_error(errc::io_failure, "journal " + db.path()
                                          + ": WAL mode refused (journal_mode is '" + mode
                                          + "'; is the run directory on a network filesystem?)");
  return db.exec("PRAGMA synchronous = FULL", "setting synchronous = FULL");
}

using event = journal_records::event;

caf::error read_events(journal_db& db, const char* sql, std::vector<event>& out) {
  return db.query(sql, {}, [&](row r) {
    out.push_back(event{{from_sql(r[0]), from_sql(r[1])}, r[2], r[3]});
  });
}

caf::error read_records(journal_db& db, journal_records& out) {
  auto err = db.query(
    "SELECT incarnation, resumed_step, IFNULL(finished_ok, -1), IFNULL(cursor, -1) "
    "FROM incarnations ORDER BY incarnation",
    {}, [&](row r) { out.incarnations.push_back({r[0], r[1], r[2] >= 0, r[2] == 1, r[3]}); });
  if (!err)
    err = db.query("SELECT incarnation, step, version, IFNULL(voided_by, 0) FROM steps "
                   "ORDER BY incarnation, step",
                   {}, [&](row r) { out.steps.push_back({r[0], r[1], r[2], r[3]}); });
  if (!err)
    err = db.query(
      "SELECT c.group_id, c.problem_id, c.incarnation, c.step,"
      " s.step IS NOT NULL AND s.voided_by IS NULL FROM consumed c LEFT JOIN steps s"
      " ON s.incarnation = c.incarnation AND s.step = c.step ORDER BY c.rowid",
      {}, [&](row r) {
        out.consumed.push_back({{{from_sql(r[0]), from_sql(r[1])}, r[2], r[3]}, r[4] != 0});
      });
  if (!err)
    err = read_events(db, "SELECT group_id, problem_id, incarnation, IFNULL(step, 0) "
                          "FROM issued ORDER BY rowid", out.issued);
  if (!err)
    err = read_events(db, "SELECT group_id, problem_id, incarnation, IFNULL(step, 0) "
                          "FROM dropped ORDER BY rowid", out.dropped);
  if (!err)
    err = read_events(db, "SELECT group_id, problem_id, incarnation, IFNULL(step, 0) "
                          "FROM outstanding ORDER BY rowid", out.outstanding);
  return err;
}

/// Inserts `groups` with (incarnation, step); step 0 is stored as NULL.
caf::error insert_groups(journal_db& db, const char* table, int64_t incarnation, int64_t step,
                         const std::vector<journal_group>& groups) {
  if (groups.empty())
    return caf::none;
  auto sql = std::string{"INSERT INTO "} + table
             + "(group_id, problem_id, incarnation, step) VALUES (?1, ?2, ?3, NULLIF(?4, 0))";
  auto s = db.prepare(sql.c_str());
  if (!s)
    return s.error();
  for (auto& g : groups)
    if (auto err = db.run(s->get(), {to_sql(g.group_id), to_sql(g.problem_id), incarnation, step}))
      return err;
  return caf::none;
}

} // namespace

struct run_journal::impl {
  journal_db db;
  int64_t incarnation = 0; // begun by this handle; 0: none
  int64_t last_step = 0;   // last live step
  bool finished = false;   // record_finish ran for `incarnation`

  /// A head whose incarnation was superseded (a newer head started on the
  /// same journal while this one still ran) must not record anything more:
  /// the newer head already counts this one's unrecorded work as untrained.
  caf::error check_current() {
    auto newest = db.query_int("SELECT IFNULL(MAX(incarnation), 0) FROM incarnations");
    if (!newest)
      return newest.error();
    if (*newest != incarnation)
      return invalid(db, "incarnation " + std::to_string(incarnation)
                           + " was superseded by incarnation " + std::to_string(*newest)
                           + " (another head resumed this run)");
    return caf::none;
  }

  caf::error check_writable(const char* call) {
    if (incarnation == 0)
      return make_error(errc::not_ready, "journal " + db.path() + ": " + call
                                           + " before begin_incarnation");
    if (finished)
      return invalid(db, std::string{call} + " after record_finish");
    return caf::none;
  }
};

std::string journal_path(const std::string& run_dir) {
  if (!run_dir.empty() && run_dir.back() == '/')
    return run_dir + journal_file_name;
  return run_dir + "/" + journal_file_name;
}

run_journal::run_journal(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

run_journal::~run_journal() = default;

caf::expected<std::unique_ptr<run_journal>> run_journal::open(const std::string& path) {
  auto db = journal_db::open(path, false);
  if (!db)
    return db.error();
  bool fresh = false;
  if (auto err = check_identity(*db, fresh))
    return err;
  if (auto err = set_durable_wal(*db))
    return err;
  if (fresh)
    if (auto err = create_schema(*db))
      return err;
  auto p = std::unique_ptr<impl>(new impl{std::move(*db)});
  return std::unique_ptr<run_journal>(new run_journal(std::move(p)));
}

caf::expected<int64_t> run_journal::begin_incarnation(int64_t resumed_step) {
  auto& db = impl_->db;
  if (resumed_step < 0)
    return invalid(db, "resumed step " + std::to_string(resumed_step) + " is negative");
  int64_t number = 0;
  auto err = db.transaction(true, [&]() -> caf::error {
    auto last = db.query_int("SELECT IFNULL(MAX(step), 0) FROM steps WHERE voided_by IS NULL");
    if (!last)
      return last.error();
    if (resumed_step > *last)
      return invalid(db, "resuming from step " + std::to_string(resumed_step)
                           + ", but the last step journaled is " + std::to_string(*last)
                           + " (a checkpoint must be written after its step is recorded)");
    auto n = db.query_int("SELECT IFNULL(MAX(incarnation), 0) + 1 FROM incarnations");
    if (!n)
      return n.error();
    number = *n;
    if (auto e = db.query("INSERT INTO incarnations(incarnation, resumed_step, started_at) "
                          "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                          {number, resumed_step}, nullptr))
      return e;
    return db.query("UPDATE steps SET voided_by = ?1 WHERE voided_by IS NULL AND step > ?2",
                    {number, resumed_step}, nullptr);
  });
  if (err)
    return err;
  impl_->incarnation = number;
  impl_->last_step = resumed_step;
  impl_->finished = false;
  return number;
}

caf::error run_journal::record_step(int64_t step, int64_t version,
                                    const std::vector<journal_group>& issued,
                                    const std::vector<journal_group>& consumed,
                                    const std::vector<journal_group>& dropped) {
  auto& db = impl_->db;
  if (auto err = impl_->check_writable("record_step"))
    return err;
  // A batch trained as learner.mini_batches optimizer steps advances the
  // version by that many: steps increase, by one or by that stride.
  if (step <= impl_->last_step)
    return invalid(db, "step " + std::to_string(step) + " recorded after step "
                         + std::to_string(impl_->last_step) + " (expected a later one)");
  auto n = impl_->incarnation;
  auto err = db.transaction(true, [&]() -> caf::error {
    if (auto e = impl_->check_current())
      return e;
    if (auto e = db.query("INSERT INTO steps(incarnation, step, version) VALUES (?1, ?2, ?3)",
                          {n, step, version}, nullptr))
      return e;
    if (auto e = insert_groups(db, "issued", n, step, issued))
      return e;
    if (auto e = insert_groups(db, "consumed", n, step, consumed))
      return e;
    return insert_groups(db, "dropped", n, step, dropped);
  });
  if (!err)
    impl_->last_step = step;
  return err;
}

caf::error run_journal::record_finish(bool ok, const std::vector<journal_group>& issued,
                                      const std::vector<journal_group>& dropped,
                                      const std::vector<journal_group>& outstanding,
                                      std::optional<uint64_t> problems_drawn) {
  auto& db = impl_->db;
  if (auto err = impl_->check_writable("record_finish"))
    return err;
  auto n = impl_->incarnation;
  auto err = db.transaction(true, [&]() -> caf::error {
    if (auto e = impl_->check_current())
      return e;
    if (auto e = insert_groups(db, "issued", n, 0, issued))
      return e;
    if (auto e = insert_groups(db, "dropped", n, 0, dropped))
      return e;
    if (auto e = insert_groups(db, "outstanding", n, 0, outstanding))
      return e;
    if (auto e = db.query("UPDATE incarnations SET finished_ok = ?1 WHERE incarnation = ?2",
                          {ok ? 1 : 0, n}, nullptr))
      return e;
    if (!problems_drawn)
      return caf::none;
    return db.query("UPDATE incarnations SET cursor = ?1 WHERE incarnation = ?2",
                    {static_cast<int64_t>(*problems_drawn), n}, nullptr);
  });
  if (!err)
    impl_->finished = true;
  return err;
}

caf::expected<journal_resume> run_journal::resume_point() const {
  auto& db = impl_->db;
  if (impl_->incarnation == 0)
    return make_error(errc::not_ready,
                      "journal " + db.path() + ": resume_point before begin_incarnation");
  journal_records records;
  if (auto err = db.transaction(false, [&] { return read_records(db, records); }))
    return err;
  journal_resume out;
  std::set<uint64_t> settled, unsettled;
  for (auto& c : records.consumed)
    if (c.live)
      settled.insert(c.what.group.problem_id);
  for (auto& d : records.dropped)
    settled.insert(d.group.problem_id);
  for (auto& i : records.issued) {
    out.next_group_id = std::max(out.next_group_id, i.group.group_id + 1);
    out.next_problem_id = std::max(out.next_problem_id, i.group.problem_id + 1);
    if (settled.count(i.group.problem_id) == 0)
      unsettled.insert(i.group.problem_id);
  }
  out.unsettled_problems.assign(unsettled.begin(), unsettled.end());
  return out;
}

int64_t run_journal::incarnation() const { return impl_->incarnation; }

int64_t run_journal::last_step() const { return impl_->last_step; }

const std::string& run_journal::path() const { return impl_->db.path(); }

caf::expected<journal_records> read_journal(const std::string& path) {
  auto db = journal_db::open(path, true);
  if (!db)
    return db.error();
  bool fresh = false;
  if (auto err = check_identity(*db, fresh))
    return err;
  if (fresh)
    return invalid(*db, "an empty database, not a tandem run journal");
  journal_records out;
  out.path = path;
  auto version = db->query_int("PRAGMA user_version");
  if (!version)
    return version.error();
  out.schema_version = *version;
  if (auto err = db->transaction(false, [&] { return read_records(*db, out); }))
    return err;
  return out;
}

} // namespace tandem
