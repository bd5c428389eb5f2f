# Actor-level and runtime tests (no LibTorch: fake backends).
tandem_add_test(work_buffer_test
  SOURCES actors/work_buffer_test.cpp actors/staleness_gate_test.cpp
  LIBS tandem_actors)
tandem_add_test(weights_blob_test SOURCES runtime/weights_blob_test.cpp LIBS tandem_runtime)
tandem_add_test(protocol_test SOURCES actors/protocol_test.cpp LIBS tandem_actors TIMEOUT 120)
