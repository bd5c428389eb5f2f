#include "runtime/journal_audit.hpp"

#include <limits>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "runtime/json_writer.hpp"

namespace tandem {

namespace {

/// The sample of `ids` (unique or not: every id counts once).
id_sample sample_of(std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  id_sample out;
  out.count = ids.size();
  out.first.assign(ids.begin(), ids.begin() + std::min(ids.size(), audit_sample_size));
  return out;
}

/// Keys of `counts` seen more than once.
template <class Key>
std::vector<uint64_t> seen_twice(const std::map<Key, uint64_t>& counts) {
  std::vector<uint64_t> out;
  for (auto& [key, n] : counts)
    if (n > 1)
      out.push_back(static_cast<uint64_t>(key));
  return out;
}

/// The ids in [0, max(present)] that are not in `present` (ascending set).
/// Counted arithmetically: a wild id must not make the audit enumerate 2^63.
id_sample gaps_of(const std::set<uint64_t>& present) {
  id_sample out;
  uint64_t expected = 0;
  for (auto id : present) {
    if (id > expected) {
      out.count += id - expected;
      for (auto g = expected; g < id && out.first.size() < audit_sample_size; ++g)
        out.first.push_back(g);
    }
    expected = id + 1;
  }
  return out;
}

/// Live steps must be exactly stride, 2 stride, ..., last_step, once each.
/// The stride is the first live step: 1, or learner.mini_batches when each
/// batch is trained as that many optimizer steps. A live step off the
/// stride is reported with the repeated ones (work the run did not plan).
void audit_steps(const journal_records& r, audit_report& out) {
  std::map<int64_t, uint64_t> live;
  for (auto& s : r.steps) {
    if (s.voided_by != 0) {
      ++out.steps_lost;
      continue;
    }
    ++live[s.step];
    out.last_step = std::max(out.last_step, s.step);
  }
  const int64_t stride = live.empty() ? 1 : std::max<int64_t>(1, live.begin()->first);
  std::vector<uint64_t> missing;
  for (int64_t k = stride; k <= out.last_step; k += stride)
    if (live.count(k) == 0)
      missing.push_back(static_cast<uint64_t>(k));
  auto repeated = seen_twice(live);
  for (auto& [step, n] : live)
    if (step % stride != 0)
      repeated.push_back(static_cast<uint64_t>(step));
  out.missing_steps = sample_of(std::move(missing));
  out.repeated_steps = sample_of(std::move(repeated));
}

/// Every consumed/dropped/outstanding group must match an issue.
std::vector<uint64_t> unmatched(const std::set<std::pair<uint64_t, uint64_t>>& issued,
                                const journal_records& r, int64_t last_incarnation) {
  std::vector<uint64_t> out;
  auto check = [&](const journal_group& g) {
    if (issued.count({g.group_id, g.problem_id}) == 0)
      out.push_back(g.group_id);
  };
  for (auto& c : r.consumed)
    check(c.what.group);
  for (auto& d : r.dropped)
    check(d.group);
  for (auto& o : r.outstanding)
    if (o.incarnation == last_incarnation)
      check(o.group);
  return out;
}

void audit_groups(const journal_records& r, audit_report& out) {
  int64_t last = r.incarnations.empty() ? 0 : r.incarnations.back().number;
  std::map<uint64_t, uint64_t> issues_of_problem, issues_of_group, live_of_problem,
    live_of_group;
  std::set<std::pair<uint64_t, uint64_t>> issued_pairs;
  std::set<uint64_t> settled;
  for (auto& i : r.issued) {
    ++issues_of_problem[i.group.problem_id];
    ++issues_of_group[i.group.group_id];
    issued_pairs.insert({i.group.group_id, i.group.problem_id});
  }
  for (auto& c : r.consumed) {
    if (!c.live) {
      ++out.groups_voided;
      continue;
    }
    ++out.groups_consumed;
    ++live_of_problem[c.what.group.problem_id];
    ++live_of_group[c.what.group.group_id];
    settled.insert(c.what.group.problem_id);
  }
  for (auto& d : r.dropped)
    settled.insert(d.group.problem_id);
  for (auto& o : r.outstanding)
    if (o.incarnation == last && out.finished) {
      ++out.groups_outstanding;
      settled.insert(o.group.problem_id);
    }
  out.groups_issued = r.issued.size();
  out.groups_dropped = r.dropped.size();
  out.problems_issued = issues_of_problem.size();
  out.regenerated = out.groups_issued - out.problems_issued;
  out.duplicated_problems = sample_of(seen_twice(live_of_problem));
  out.duplicated_groups = sample_of(seen_twice(live_of_group));
  out.reused_group_ids = sample_of(seen_twice(issues_of_group));
  out.unmatched_groups = sample_of(unmatched(issued_pairs, r, last));
  std::set<uint64_t> problems;
  std::vector<uint64_t> unsettled;
  // Past the final cursor: issued by a killed incarnation, rolled back by
  // the restore (the stream hands them out next), neither trained nor lost.
  auto cursor = std::numeric_limits<uint64_t>::max();
  if (out.finished && !r.incarnations.empty() && r.incarnations.back().cursor >= 0)
    cursor = static_cast<uint64_t>(r.incarnations.back().cursor);
  for (auto& [p, n] : issues_of_problem) {
    problems.insert(p);
    if (settled.count(p) == 0 && p >= cursor)
      ++out.rolled_back;
    else if (settled.count(p) == 0)
      unsettled.push_back(p);
  }
  out.skipped_problems = gaps_of(problems);
  out.unsettled = unsettled.size();
  if (out.finished)
    out.lost_problems = sample_of(std::move(unsettled));
}

std::string ids_text(const id_sample& s) {
  std::string out = std::to_string(s.count);
  for (size_t i = 0; i < s.first.size(); ++i)
    out += (i == 0 ? ": " : ", ") + std::to_string(s.first[i]);
  if (s.count > s.first.size())
    out += ", ...";
  return out;
}

std::string ids_json(const id_sample& s) {
  std::string out = "{\"count\":" + std::to_string(s.count) + ",\"first\":[";
  for (size_t i = 0; i < s.first.size(); ++i)
    out += (i == 0 ? "" : ",") + std::to_string(s.first[i]);
  return out + "]}";
}

/// The guarantees in report order, with their names.
std::vector<std::pair<const char*, const id_sample*>> guarantees(const audit_report& r) {
  return {{"duplicated_problems", &r.duplicated_problems},
          {"duplicated_groups", &r.duplicated_groups},
          {"reused_group_ids", &r.reused_group_ids},
          {"unmatched_groups", &r.unmatched_groups},
          {"skipped_problems", &r.skipped_problems},
          {"lost_problems", &r.lost_problems},
          {"missing_steps", &r.missing_steps},
          {"repeated_steps", &r.repeated_steps}};
}

} // namespace

bool audit_report::broken() const {
  for (auto& [name, s] : guarantees(*this))
    if (s->count > 0)
      return true;
  return false;
}

audit_report audit_records(const journal_records& r) {
  audit_report out;
  out.path = r.path;
  out.schema_version = r.schema_version;
  out.incarnations = static_cast<int64_t>(r.incarnations.size());
  if (!r.incarnations.empty()) {
    out.finished = r.incarnations.back().finished;
    out.ok = out.finished && r.incarnations.back().ok;
  }
  audit_steps(r, out);
  audit_groups(r, out);
  return out;
}

caf::expected<audit_report> audit_journal(const std::string& path) {
  auto records = read_journal(path);
  if (!records)
    return records.error();
  return audit_records(*records);
}

std::string format_audit_text(const audit_report& r) {
  std::ostringstream o;
  auto run = !r.finished ? "in progress"
             : r.ok      ? "finished ok"
                         : "finished, not ok";
  o << "journal:              " << r.path << " (schema " << r.schema_version << ")\n"
    << "run:                  " << run << "\n"
    << "incarnations:         " << r.incarnations << "\n"
    << "last step:            " << r.last_step << "\n"
    << "groups issued:        " << r.groups_issued << " (" << r.problems_issued
    << " prompts, " << r.regenerated << " regenerated)\n"
    << "groups consumed:      " << r.groups_consumed << "\n"
    << "groups voided:        " << r.groups_voided << " (" << r.steps_lost
    << " steps lost to head restarts)\n"
    << "groups dropped:       " << r.groups_dropped << "\n"
    << "groups outstanding:   " << r.groups_outstanding << " (at finish)\n"
    << "prompts rolled back:  " << r.rolled_back << " (issued past the final cursor by a killed head)\n";
  if (!r.finished)
    o << "prompts unsettled:    " << r.unsettled << " (issued, not yet trained or dropped)\n";
  o << "duplicated prompts:   " << ids_text(r.duplicated_problems) << "\n"
    << "duplicated groups:    " << ids_text(r.duplicated_groups) << "\n"
    << "reused group ids:     " << ids_text(r.reused_group_ids) << "\n"
    << "unmatched groups:     " << ids_text(r.unmatched_groups) << "\n"
    << "skipped prompts:      " << ids_text(r.skipped_problems) << "\n"
    << "lost prompts:         "
    << (r.finished ? ids_text(r.lost_problems) : "not judged until the run finishes") << "\n"
    << "missing steps:        " << ids_text(r.missing_steps) << "\n"
    << "repeated steps:       " << ids_text(r.repeated_steps) << "\n";
  std::string broken;
  for (auto& [name, s] : guarantees(r))
    if (s->count > 0)
      broken += (broken.empty() ? "" : ", ") + std::string{name};
  o << "verdict:              "
    << (broken.empty() ? "every guarantee holds" : "BROKEN (" + broken + ")") << "\n";
  return o.str();
}

std::string format_audit_json(const audit_report& r) {
  std::ostringstream o;
  o << "{\"journal\":" << json_quote(r.path) << ",\"schema\":" << r.schema_version
    << ",\"finished\":" << (r.finished ? "true" : "false")
    << ",\"ok\":" << (r.ok ? "true" : "false") << ",\"incarnations\":" << r.incarnations
    << ",\"last_step\":" << r.last_step << ",\"groups_issued\":" << r.groups_issued
    << ",\"problems_issued\":" << r.problems_issued << ",\"regenerated\":" << r.regenerated
    << ",\"groups_consumed\":" << r.groups_consumed << ",\"groups_voided\":" << r.groups_voided
    << ",\"steps_lost\":" << r.steps_lost << ",\"groups_dropped\":" << r.groups_dropped
    << ",\"groups_outstanding\":" << r.groups_outstanding << ",\"rolled_back\":" << r.rolled_back
    << ",\"unsettled\":" << r.unsettled;
  for (auto& [name, s] : guarantees(r))
    o << ",\"" << name << "\":" << ids_json(*s);
  o << ",\"broken\":" << (r.broken() ? "true" : "false") << "}";
  return o.str();
}

} // namespace tandem
