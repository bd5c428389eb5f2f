# Tests of runtime/nccl. The CPU suite runs everywhere (fake collective,
# manual clock). The GPU check needs tandem_nccl and two GPUs; ctest counts it
# as skipped (exit 77) on a machine with fewer.
tandem_add_test(broadcast_test
  SOURCES runtime/nccl/comm_id_test.cpp runtime/nccl/bucket_plan_test.cpp
          runtime/nccl/fake_collective_test.cpp runtime/nccl/weight_transfer_test.cpp
          runtime/nccl/epoch_planner_test.cpp runtime/nccl/weight_sync_test.cpp
          runtime/nccl/weight_endpoints_test.cpp
  LIBS tandem_broadcast)
# Reductions among threads (the data-parallel learner's collective).
tandem_add_test(reduce_collective_test
  SOURCES runtime/nccl/thread_group_collective_test.cpp runtime/nccl/lazy_collective_test.cpp
  LIBS tandem_broadcast)
# The same reductions across processes: ranks over ZeroMQ sockets (CURVE),
# checked bit for bit against the thread group.
tandem_add_test(socket_collective_test
  SOURCES runtime/transport/socket_collective_test.cpp
  LIBS tandem_transport)

if(TARGET tandem_nccl)
  add_executable(nccl_broadcast_gpu_test gpu/nccl_broadcast_gpu_test.cpp)
  target_link_libraries(nccl_broadcast_gpu_test PRIVATE tandem_nccl)
  add_test(NAME nccl_broadcast_gpu_test COMMAND nccl_broadcast_gpu_test)
  set_tests_properties(nccl_broadcast_gpu_test PROPERTIES
    TIMEOUT 300 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE ENVIRONMENT "NCCL_NVLS_ENABLE=0")
  # The reductions of the data-parallel learner: two ranks as threads.
  add_executable(nccl_reduce_gpu_test gpu/nccl_reduce_gpu_test.cpp)
  target_link_libraries(nccl_reduce_gpu_test PRIVATE tandem_nccl)
  add_test(NAME nccl_reduce_gpu_test COMMAND nccl_reduce_gpu_test)
  set_tests_properties(nccl_reduce_gpu_test PROPERTIES
    TIMEOUT 120 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE ENVIRONMENT "NCCL_NVLS_ENABLE=0")
  # The whole run through the actors: needs the tandem binary (LibTorch).
  if(TARGET tandem)
    add_test(NAME nccl_run_kill_test
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gpu/nccl_run_kill_test.sh
              $<TARGET_FILE:tandem> ${TANDEM_ROOT})
    set_tests_properties(nccl_run_kill_test PROPERTIES
      TIMEOUT 600 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE ENVIRONMENT "NCCL_NVLS_ENABLE=0")
  endif()
endif()
