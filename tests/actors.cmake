# Actor-level and runtime tests (no LibTorch: fake backends).
tandem_add_test(work_buffer_test
  SOURCES actors/work_buffer_test.cpp actors/staleness_gate_test.cpp
  LIBS tandem_actors)
tandem_add_test(weights_blob_test SOURCES runtime/weights_blob_test.cpp LIBS tandem_runtime)
tandem_add_test(protocol_test SOURCES actors/protocol_test.cpp LIBS tandem_actors TIMEOUT 120)

# End-to-end: the real binary (LibTorch) through ctest.
find_package(Python3 COMPONENTS Interpreter REQUIRED)
foreach(check learning two_process worker_killed bad_config)
  add_test(NAME e2e_${check}
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/e2e.py
                   $<TARGET_FILE:tandem> ${check})
  set_tests_properties(e2e_${check} PROPERTIES TIMEOUT 900)
endforeach()
