# bench/: the pipeline bench's figures and bounds (pure), and its request
# recorder and replayer against a fake sampler (CAF's test coordinator). Built
# from the bench sources they test, without tandem_bench's LibTorch links.
tandem_add_test(pipeline_figures_test
  SOURCES bench/pipeline_figures_test.cpp ${TANDEM_ROOT}/bench/pipeline_figures.cpp
          ${TANDEM_ROOT}/bench/sample_stats.cpp
  LIBS tandem_runtime)
tandem_add_test(request_replay_test
  SOURCES bench/request_replay_test.cpp ${TANDEM_ROOT}/bench/request_recorder.cpp
          ${TANDEM_ROOT}/bench/request_replayer.cpp
  LIBS tandem_runtime)

# The real bench, tiny: every mode on one recorded workload, the token check.
add_test(NAME bench_pipeline_smoke
         COMMAND $<TARGET_FILE:tandem> bench pipeline ${TANDEM_ROOT}/configs/basic/run.yaml
                 --rounds 1 --steps 2 --warmup 1)
set_tests_properties(bench_pipeline_smoke PROPERTIES TIMEOUT 300
  PASS_REGULAR_EXPRESSION "workload check: every mode of every round")

# tandem bench checkpoint, tiny shape, one round: every figure and its sanity
# checks (bytes per parameter, rates below memcpy, exact import).
add_test(NAME bench_checkpoint_smoke
         COMMAND $<TARGET_FILE:tandem> bench checkpoint --shape tiny --device cpu --repeats 1
                 --batch-seqs 2 --prompt-len 8 --completion-len 8)
set_tests_properties(bench_checkpoint_smoke PROPERTIES TIMEOUT 120
  PASS_REGULAR_EXPRESSION "sanity: ok")

# The roofline figures of tandem bench decode (pure).
tandem_add_test(decode_roofline_test
  SOURCES bench/decode_roofline_test.cpp ${TANDEM_ROOT}/bench/decode_roofline.cpp
  LIBS tandem_runtime)
# tandem bench decode on CPU, tiny shape: the main run with its roofline
# line, and shared prefill on vs off, where "on" runs 2 of 32 rows.
add_test(NAME bench_decode_smoke
         COMMAND $<TARGET_FILE:tandem> bench decode --shape tiny --device cpu --dtype float32
                 --batch 32 --group-size 16 --prompt-len 16 --new-tokens 8 --repeats 1
                 --compare-prefill 32 --hbm-gbs 20)
set_tests_properties(bench_decode_smoke PROPERTIES TIMEOUT 120
  PASS_REGULAR_EXPRESSION "on +forward +2 of +32 rows")

# tandem bench staleness: cells, configs, figures, table, claim and JSON on
# synthetic metrics.jsonl text (pure), and the child pool against a fake
# launcher with explicit time.
tandem_add_test(staleness_bench_test
  SOURCES bench/staleness_bench_test.cpp ${TANDEM_ROOT}/bench/staleness_cells.cpp
          ${TANDEM_ROOT}/bench/staleness_figures.cpp ${TANDEM_ROOT}/bench/child_pool.cpp
          ${TANDEM_ROOT}/bench/sample_stats.cpp
  LIBS tandem_runtime yaml-cpp)
# The real bench, tiny: children per cell, the table and JSON, a timed-out
# run, bad flags.
tandem_add_test(staleness_bench_e2e_test SOURCES bench/staleness_bench_e2e_test.cpp
  LIBS tandem_runtime TIMEOUT 300)
target_compile_definitions(staleness_bench_e2e_test PRIVATE TANDEM_BINARY="$<TARGET_FILE:tandem>")
add_dependencies(staleness_bench_e2e_test tandem)
# tandem bench reward's workload, expected rewards, trivial server, and every
# mode of its rig on a tiny workload (the command mode runs python3).
tandem_add_test(reward_bench_test
  SOURCES bench/reward_bench_test.cpp ${TANDEM_ROOT}/bench/reward_workload.cpp
          ${TANDEM_ROOT}/bench/reward_modes.cpp ${TANDEM_ROOT}/bench/plugin_reward_server.cpp
  LIBS tandem_actors tandem::httplib TIMEOUT 120)
# The real bench, tiny, from the repository root (its default --command).
add_test(NAME bench_reward_smoke
         COMMAND $<TARGET_FILE:tandem> bench reward --rounds 2 --completions 96 --batch 8
         WORKING_DIRECTORY ${TANDEM_ROOT})
set_tests_properties(bench_reward_smoke PROPERTIES TIMEOUT 120
  PASS_REGULAR_EXPRESSION "rewards check: every mode of every round gave the expected rewards")
