// commands.hpp: the tandem executable's subcommands. Each returns the
// process exit code: 0 success, 1 runtime failure, 2 bad usage or config.
// The benches and reference tools are in bench/bench_command.hpp.
#pragma once

#include <string>
#include <vector>

namespace tandem {

using args = std::vector<std::string>;

int run_command(const args& a);      // tandem run CONFIG: the supervisor of a new run
int resume_command(const args& a);   // tandem resume RUN_DIR
int head_command(const args& a);
int chaos_command(const args& a);    // tandem chaos CONFIG --minutes M [--kill-... S]     // tandem head RUN_DIR (started by the supervisor)
int validate_command(const args& a); // tandem validate CONFIG...
int plan_command(const args& a);     // tandem plan CONFIG
int scale_command(const args& a);    // tandem scale HOST:PORT sampler=N
int status_command(const args& a);   // tandem status HOST:PORT
int node_command(const args& a);     // tandem node CONFIG --node NAME
int worker_command(const args& a);   // tandem worker --config CFG --head HOST:PORT --role R --name N
int audit_command(const args& a);    // tandem audit RUN_DIR [--json]
int export_command(const args& a);   // tandem export RUN_DIR --out DIR [--step N]
int grade_command(const args& a);    // tandem grade FILE.jsonl
int generate_command(const args& a); // tandem generate CHECKPOINT --prompt TEXT
int eval_command(const args& a);     // tandem eval CHECKPOINT CONFIG

} // namespace tandem
