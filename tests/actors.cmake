# Actor-level and runtime tests (no LibTorch: fake backends).
tandem_add_test(work_buffer_test
  SOURCES actors/work_buffer_test.cpp actors/staleness_gate_test.cpp actors/run_snapshot_test.cpp
  LIBS tandem_actors)
# The head's actor health ledger: heartbeats, stalls, deaths, restarts, events.
tandem_add_test(actor_registry_test SOURCES actors/actor_registry_test.cpp LIBS tandem_actors)
tandem_add_test(health_cell_test SOURCES actors/health_cell_test.cpp LIBS tandem_actors)
tandem_add_test(weights_blob_test SOURCES runtime/weights_blob_test.cpp LIBS tandem_runtime)
tandem_add_test(protocol_test SOURCES actors/protocol_test.cpp LIBS tandem_wiring TIMEOUT 120)
tandem_add_test(reward_plugin_test SOURCES actors/reward_plugin_test.cpp LIBS tandem_actors)
tandem_add_test(pipeline_failure_test SOURCES actors/pipeline_failure_test.cpp LIBS tandem_wiring TIMEOUT 120)
tandem_add_test(dynamic_sampling_test SOURCES actors/dynamic_sampling_test.cpp LIBS tandem_wiring TIMEOUT 120)
# Journal records, checkpoints, stop and resume at the actor level.
tandem_add_test(durable_test SOURCES actors/durable_test.cpp LIBS tandem_wiring TIMEOUT 120)
tandem_add_test(gate_test SOURCES actors/gate_test.cpp LIBS tandem_actors)
tandem_add_test(join_ledger_test SOURCES actors/join_ledger_test.cpp LIBS tandem_actors)
tandem_add_test(sampler_reset_test SOURCES actors/sampler_reset_test.cpp LIBS tandem_actors)
tandem_add_test(head_link_test SOURCES wiring/head_link_test.cpp LIBS tandem_wiring)
# Every run has a secret; the head's ZeroMQ sockets admit only its holders.
tandem_add_test(data_plane_auth_test SOURCES wiring/data_plane_auth_test.cpp LIBS tandem_wiring)
# The control port end to end: BASP only after the handshake; the size cap.
tandem_add_test(control_endpoint_test SOURCES wiring/control_endpoint_test.cpp LIBS tandem_wiring
                TIMEOUT 120)
tandem_add_test(sampler_test SOURCES actors/sampler_test.cpp LIBS tandem_actors)
# learner.ranks > 1: N learner ranks on worker threads behind one backend.
tandem_add_test(data_parallel_backend_test SOURCES actors/data_parallel_backend_test.cpp
                LIBS tandem_actors tandem_test_support TIMEOUT 120)
# Learner ranks in another process: a learner_rank actor behind the middleman,
# a socket_collective between the ranks; fakes for the failure states.
tandem_add_test(learner_rank_test SOURCES actors/learner_rank_test.cpp
                LIBS tandem_actors TIMEOUT 120)
# Evaluation rounds, their schedule and the evaluator actor (fake decoder);
# the recorder's after-checkpoint hook.
tandem_add_test(evaluator_test SOURCES actors/evaluator_test.cpp LIBS tandem_actors)
# Over-long prompts dropped and counted; bounded draws (task.max_prompt_tokens).
tandem_add_test(prompt_filter_test SOURCES actors/prompt_filter_test.cpp LIBS tandem_actors)

# End-to-end: the real binary (LibTorch) through ctest.
find_package(Python3 COMPONENTS Interpreter REQUIRED)
foreach(check learning basic_smoke two_process interrupt worker_killed worker_hung head_killed
              exact_resume chaos durable_failures local_3proc
              two_node_netns scale bad_config hf gpu_run worker_rejoin export
              reward_http reward_command hf_eval prompt_formats control_attacks hf_families
              learner_ranks learner_ranks_2proc)
  add_test(NAME e2e_${check}
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/e2e.py
                   $<TARGET_FILE:tandem> ${check})
  set_tests_properties(e2e_${check} PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)
endforeach()
tandem_add_test(transport_test SOURCES runtime/transport_test.cpp LIBS tandem_transport)
# RUN_DIR/secret: generated 0600, reused on resume, refused when others may read it.
tandem_add_test(run_secret_test SOURCES runtime/run_secret_test.cpp LIBS tandem_transport)
# The control port's handshake and listener (docs/control-auth.md).
tandem_add_test(control_handshake_test SOURCES runtime/control_handshake_test.cpp
                LIBS tandem_transport)
tandem_add_test(sim_test SOURCES actors/sim_test.cpp LIBS tandem_wiring TIMEOUT 120)
tandem_add_test(nccl_actor_test SOURCES actors/nccl_actor_test.cpp LIBS tandem_wiring TIMEOUT 120)
# The one layout resolution against what the head actually spawns.
tandem_add_test(wiring_test SOURCES wiring/wiring_test.cpp LIBS tandem_wiring TIMEOUT 120)
# learner.ranks: the plan's ranks, their collectives, make_trainer's refusals.
tandem_add_test(learner_wiring_test SOURCES wiring/learner_wiring_test.cpp LIBS tandem_wiring)
# The evaluator's parts from run configs: splits, correctness, metrics, samples.
tandem_add_test(evaluation_test SOURCES wiring/evaluation_test.cpp LIBS tandem_wiring)
tandem_add_test(cli_flags_test SOURCES runtime/cli_flags_test.cpp LIBS tandem_runtime)
# The run journal and its audit; SQLite itself for the tests' raw checks of the file.
tandem_add_test(run_journal_test
  SOURCES runtime/run_journal_test.cpp runtime/journal_audit_test.cpp
  LIBS tandem_runtime SQLite::SQLite3)
# `tandem audit` through the binary (exit codes 0/1/2) on journals the test writes.
tandem_add_test(audit_command_test SOURCES app/audit_command_test.cpp LIBS tandem_runtime)
target_compile_definitions(audit_command_test PRIVATE TANDEM_BINARY="$<TARGET_FILE:tandem>")
add_dependencies(audit_command_test tandem)
tandem_add_test(weight_roster_test SOURCES actors/weight_roster_test.cpp LIBS tandem_actors)
# The supervisor's restart policy and the chaos harness's bookkeeping.
tandem_add_test(supervisor_test SOURCES app/supervisor_test.cpp LIBS tandem_app)
